import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse as parseYaml, stringify } from 'yaml';
import { effectiveConfig } from '../../../src/commands/check-config.js';
import { parseConfig } from '../../../src/config/load.js';
import { builtinScanners } from '../../../src/scan/builtin.js';
import { securityOptions } from '../../../src/server/listener-settings.js';
import { ownUpstream } from '../../../src/server/listener-upstream.js';
import { xclientCommands } from '../../../src/upstream/xclient.js';

const tls = { key: '/etc/ssl/key.pem', cert: '/etc/ssl/cert.pem' };
const submission = { role: 'submission', port: 587, auth: { type: 'file', file: '/etc/smtp-scan-proxy/users' } };
const parse = (raw: Record<string, unknown>) => parseConfig(raw, builtinScanners);
const problems = (raw: Record<string, unknown>) => {
  try {
    parse(raw);
    return [];
  } catch (error) {
    return (error as Error).message.split('\n').slice(1);
  }
};

describe('listen: one listener or a list', () => {
  test('one listener as before: config.listen is it, config.listeners holds it alone, role inbound', () => {
    const config = parse({ listen: { port: 2600 } });
    assert.equal(config.listen.port, 2600);
    assert.equal(config.listen.role, 'inbound');
    assert.deepEqual(config.listeners, [config.listen]);
  });

  test('a list: every entry with its defaults, the first one is config.listen', () => {
    const config = parse({ tls, listen: [{ port: 25 }, submission] });
    assert.deepEqual(config.listeners.map(({ port, role }) => [port, role]), [[25, 'inbound'], [587, 'submission']]);
    assert.equal(config.listen.port, 25);
    assert.equal(config.listeners[1]!.auth?.failedLogins.perAddress.limit, 10);
  });

  test('what a listener lacks is named by its key', () => {
    assert.deepEqual(problems({ listen: { role: 'submission' } }), [
      'listen.auth: a submission listener needs auth (type file or upstream)',
      'listen.tls: a submission listener needs TLS (starttls or implicit): AUTH is never offered without it',
    ]);
    assert.deepEqual(problems({ tls, listen: [{ port: 25, auth: { type: 'upstream' } }] }), ['listen[0].auth: only a submission listener takes AUTH']);
    assert.deepEqual(problems({ listen: { tls: 'implicit' } }), ['listen.tls: tls: implicit needs the top-level tls key and cert']);
    assert.deepEqual(problems({ tls, listen: [{ port: 25 }, { ...submission, port: 25 }] }), ['listen[1].port: 127.0.0.1:25 is used by another listener']);
    assert.deepEqual(problems({ tls, listen: { ...submission, auth: { type: 'upstream' }, upstream: { starttls: 'opportunistic' } } }), [
      'listen.upstream: auth type upstream relays passwords: upstream.starttls must be required',
    ]);
    assert.deepEqual(problems({ tls, listen: [{ port: 25 }, { ...submission, auth: { type: 'file' } }] }), ['listen[1].auth.file: Invalid input: expected string, received undefined']);
    assert.deepEqual(problems({ tls, listen: { ...submission, tls: 'implicit', proxyProtocol: { trusted: ['10.0.0.0/8'] } } }), [
      'listen.tls: tls: implicit cannot be combined with proxyProtocol; use starttls',
    ]);
    assert.deepEqual(problems({ listen: [] }), ['listen: Too small: expected array to have >=1 items']);
    assert.deepEqual(problems({ listen: { prot: 25 } }), ['listen.prot: unknown key']);
  });

  test('check-config --print writes the list back as a list, and it loads back to the same config', () => {
    const config = parse({ tls, listen: [{ port: 25 }, { ...submission, auth: { ...submission.auth, failedLogins: { perUser: { window: '1h' } } } }] });
    const printed = parseYaml(stringify(effectiveConfig({ config, factories: builtinScanners }))) as Record<string, unknown>;
    assert.ok(Array.isArray(printed.listen));
    assert.equal(printed.listeners, undefined);
    assert.deepEqual(parse(printed), config);
  });
});

describe('what a listener offers', () => {
  test('inbound: no AUTH, STARTTLS only with a certificate; submission: AUTH PLAIN and LOGIN, required', () => {
    assert.deepEqual(securityOptions({ role: 'inbound' }, undefined), { secure: false, hideSTARTTLS: true, disabledCommands: ['AUTH', 'STARTTLS'] });
    const inbound = securityOptions({ role: 'inbound' }, { key: 'package.json', cert: 'package.json' });
    assert.deepEqual([inbound.hideSTARTTLS, inbound.disabledCommands], [false, ['AUTH']]);
    const starttls = securityOptions({ role: 'submission' }, { key: 'package.json', cert: 'package.json' });
    assert.deepEqual([starttls.secure, starttls.hideSTARTTLS, starttls.disabledCommands, starttls.authMethods, starttls.authOptional], [false, false, [], ['PLAIN', 'LOGIN'], false]);
    assert.equal(starttls.authRequiredMessage, '5.7.0 Authentication required');
    const implicit = securityOptions({ role: 'submission', tls: 'implicit' }, { key: 'package.json', cert: 'package.json' });
    assert.deepEqual([implicit.secure, implicit.hideSTARTTLS, implicit.disabledCommands], [true, true, ['STARTTLS']]);
  });

  test("a submission listener's upstream: its keys over the top-level ones; STARTTLS required for auth upstream", () => {
    const config = parse({ tls, upstream: { host: 'mx.example.net', port: 25 }, listen: [{ port: 25 }, { ...submission, auth: { type: 'upstream' }, upstream: { port: 587 } }] });
    assert.equal(ownUpstream(config, config.listeners[0]!), undefined);
    const own = ownUpstream(config, config.listeners[1]!)!;
    assert.deepEqual([own.host, own.port, own.starttls], ['mx.example.net', 587, 'required']);
    // A server of its own replaces upstream.servers too.
    const pooled = parse({ tls, upstream: { servers: [{ host: '10.0.0.25' }, { host: '10.0.0.26' }] }, listen: { ...submission, upstream: { host: '10.0.0.87', port: 587 } } });
    const submissionUpstream = ownUpstream(pooled, pooled.listen)!;
    assert.deepEqual([submissionUpstream.servers, submissionUpstream.host, submissionUpstream.port], [undefined, '10.0.0.87', 587]);
  });
});

describe('XCLIENT LOGIN', () => {
  test('travels in the last line, with NAME and ADDR, so Postfix trusts the login for that address only', () => {
    const offered = new Set(['NAME', 'ADDR', 'PROTO', 'HELO', 'REVERSE_NAME', 'PORT', 'LOGIN', 'DESTADDR', 'DESTPORT']);
    const lines = xclientCommands({ HELO: 'h'.repeat(250), PROTO: 'ESMTP', REVERSE_NAME: 'r'.repeat(240), LOGIN: 'ann@example.test', NAME: '[UNAVAILABLE]', ADDR: '192.0.2.1' }, offered);
    assert.equal(lines.length, 2);
    assert.ok(lines.at(-1)!.endsWith(' LOGIN=ann@example.test NAME=[UNAVAILABLE] ADDR=192.0.2.1'), lines.at(-1));
    assert.ok(!lines[0]!.includes('LOGIN='));
  });
});
