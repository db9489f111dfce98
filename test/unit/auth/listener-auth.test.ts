import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ListenerAuth, type LoginContext } from '../../../src/auth/listener-auth.js';
import type { UpstreamLink } from '../../../src/session/upstream-link.js';
import type { SmtpReply } from '../../../src/smtp/reply.js';
import { Capabilities } from '../../../src/upstream/capabilities.js';
import { capturedLogger } from '../../helpers/captured-logger.js';

const failedLogins = { store: 'memory' as const, redis: { url: 'redis://127.0.0.1:6379', timeout: 500 }, perAddress: { limit: 1, window: 60_000 }, perUser: { limit: 100, window: 60_000 }, ipv6Prefix: 64 };

/** An upstream that answers every AUTH with the next of `answers`, and a link that records what the login did to it. */
function upstreamLink(answers: SmtpReply[]) {
  const sent: string[] = [];
  const owned: boolean[] = [];
  const client = {
    capabilities: Capabilities.fromEhlo(['mx.example.test', 'AUTH PLAIN LOGIN']),
    command: async (line: string) => {
      sent.push(line);
      return answers.shift()!;
    },
  };
  const link = {
    begin: async () => client,
    noteReply: () => undefined,
    belongToUser: (onUpstream: boolean) => owned.push(onUpstream),
  } as unknown as UpstreamLink;
  return { link, sent, owned };
}

const context = (link: UpstreamLink, address = '192.0.2.1'): LoginContext => ({
  identity: { remoteAddress: address, remotePort: 1, localAddress: '127.0.0.1', localPort: 587, clientHostname: '[192.0.2.1]', hostNameAppearsAs: 'c', openingCommand: 'EHLO' },
  link,
  signal: new AbortController().signal,
  logger: capturedLogger().logger,
});

const login = (user: string, password = 'pw') => ({ method: 'PLAIN', username: user, password });

describe('ListenerAuth, auth: upstream', () => {
  test("the upstream's 235 logs the user in and pins the link; PLAIN carries the user and password", async () => {
    const { link, sent, owned } = upstreamLink([{ code: 235, enhanced: '2.7.0', text: 'Authentication successful' }]);
    const auth = new ListenerAuth({ type: 'upstream', failedLogins }, capturedLogger().logger);
    const outcome = await auth.login(login('ann@example.test', 's3cret'), context(link));
    assert.equal(outcome.user, 'ann@example.test');
    assert.deepEqual(sent, [`AUTH PLAIN ${Buffer.from('\0ann@example.test\0s3cret').toString('base64')}`]);
    assert.deepEqual(owned, [true]);
  });

  test("the upstream's 5xx is relayed and counted: past the limit the upstream is not asked again", async () => {
    const refusal = { code: 535, enhanced: '5.7.8', text: 'Error: authentication failed' };
    const { link, sent } = upstreamLink([refusal]);
    const auth = new ListenerAuth({ type: 'upstream', failedLogins }, capturedLogger().logger);
    assert.deepEqual(await auth.login(login('ann'), context(link)), { reply: refusal });
    const second = await auth.login(login('ann'), context(link));
    assert.equal(second.reply.code, 454);
    assert.equal(sent.length, 1);
  });

  test("the upstream's 4xx (its SASL backend down) is relayed and not counted as a wrong password", async () => {
    const trouble = { code: 454, enhanced: '4.7.0', text: 'Temporary authentication failure' };
    const { link, sent, owned } = upstreamLink([trouble, { code: 235, enhanced: '2.7.0', text: 'ok' }]);
    const auth = new ListenerAuth({ type: 'upstream', failedLogins }, capturedLogger().logger);
    assert.deepEqual(await auth.login(login('ann'), context(link)), { reply: trouble });
    assert.equal((await auth.login(login('ann'), context(link))).user, 'ann');
    assert.equal(sent.length, 2);
    assert.deepEqual(owned, [true]);
  });
});
