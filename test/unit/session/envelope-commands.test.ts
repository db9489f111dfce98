import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SMTPServerAddress, SMTPServerEnvelope } from 'smtp-server';
import { UpstreamMissingExtensionError } from '../../../src/errors.js';
import { mailCommand, rcptCommand } from '../../../src/session/envelope-commands.js';
import { Capabilities } from '../../../src/upstream/capabilities.js';

const caps = (...keywords: string[]) => Capabilities.fromEhlo(['mx.example.org', ...keywords]);
const ALL = caps('SIZE 10240000', '8BITMIME', 'SMTPUTF8', 'DSN');
const NONE = caps();

// As smtp-server hands them over: keys upper case, values already xtext-decoded.
const address = (value: string, args: SMTPServerAddress['args'] = false, dsn?: SMTPServerAddress['dsn']): SMTPServerAddress => ({
  address: value,
  args,
  ...(dsn ? { dsn } : {}),
});
const envelope = (extra: Partial<SMTPServerEnvelope> = {}): SMTPServerEnvelope => ({ mailFrom: false, rcptTo: [], ...extra });

function refusesFor(extension: string, run: () => unknown): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof UpstreamMissingExtensionError);
    assert.equal(error.code, 'SSP_ERR_UPSTREAM_EXTENSION');
    assert.match(error.message, new RegExp(extension));
    assert.equal(error.reply.code, 451);
    assert.equal(error.reply.enhanced, '4.3.3');
    return true;
  });
}

describe('mailCommand', () => {
  test('a plain sender', () => {
    assert.equal(mailCommand(address('alice@example.org'), envelope(), NONE), 'MAIL FROM:<alice@example.org>');
  });

  test('the null sender stays <>', () => {
    assert.equal(mailCommand(address(''), envelope(), ALL), 'MAIL FROM:<>');
  });

  test('SIZE is passed on when the upstream offers SIZE, dropped otherwise', () => {
    const from = address('a@example.org', { SIZE: '12345' });
    assert.equal(mailCommand(from, envelope(), ALL), 'MAIL FROM:<a@example.org> SIZE=12345');
    assert.equal(mailCommand(from, envelope(), NONE), 'MAIL FROM:<a@example.org>');
  });

  test('BODY=8BITMIME needs 8BITMIME upstream; without it, a 451 4.3.3', () => {
    const from = address('a@example.org', { BODY: '8BITMIME' });
    const eightBit = envelope({ bodyType: '8bitmime' });
    assert.equal(mailCommand(from, eightBit, caps('8BITMIME')), 'MAIL FROM:<a@example.org> BODY=8BITMIME');
    refusesFor('8BITMIME', () => mailCommand(from, eightBit, caps('SMTPUTF8', 'DSN')));
  });

  test('BODY=7BIT is the default and needs nothing upstream', () => {
    const from = address('a@example.org', { BODY: '7BIT' });
    assert.equal(mailCommand(from, envelope({ bodyType: '7bit' }), NONE), 'MAIL FROM:<a@example.org>');
  });

  test('SMTPUTF8 needs SMTPUTF8 upstream; without it, a 451 4.3.3', () => {
    const from = address('jörg@bücher.example', { SMTPUTF8: true });
    const utf8 = envelope({ smtpUtf8: true });
    assert.equal(mailCommand(from, utf8, caps('SMTPUTF8')), 'MAIL FROM:<jörg@bücher.example> SMTPUTF8');
    refusesFor('SMTPUTF8', () => mailCommand(from, utf8, caps('8BITMIME')));
  });

  test('all parameters together, in a fixed order', () => {
    const from = address('a@example.org', { SIZE: '999', BODY: '8BITMIME', SMTPUTF8: true, RET: 'HDRS', ENVID: 'QQ314159' });
    const full = envelope({ bodyType: '8bitmime', smtpUtf8: true, dsn: { ret: 'HDRS', envid: 'QQ314159' } });
    assert.equal(mailCommand(from, full, ALL), 'MAIL FROM:<a@example.org> SIZE=999 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ314159');
  });

  test('ENVID is xtext-encoded again (smtp-server decoded it), RET upper-cased', () => {
    const dsn = envelope({ dsn: { ret: 'full', envid: 'id with space+plus=eq' } });
    assert.equal(mailCommand(address('a@example.org'), dsn, ALL), 'MAIL FROM:<a@example.org> RET=FULL ENVID=id+20with+20space+2Bplus+3Deq');
  });

  test('DSN parameters are dropped when the upstream has no DSN', () => {
    const dsn = envelope({ dsn: { ret: 'FULL', envid: 'x' } });
    assert.equal(mailCommand(address('a@example.org'), dsn, caps('SIZE', '8BITMIME')), 'MAIL FROM:<a@example.org>');
  });

  test('an envelope DSN with nothing set adds nothing', () => {
    assert.equal(mailCommand(address('a@example.org'), envelope({ dsn: { ret: null, envid: null } }), ALL), 'MAIL FROM:<a@example.org>');
  });
});

describe('rcptCommand', () => {
  test('a plain recipient', () => {
    assert.equal(rcptCommand(address('bob@example.org'), ALL), 'RCPT TO:<bob@example.org>');
  });

  test('NOTIFY and ORCPT go upstream when it offers DSN; only the address part of ORCPT is xtext', () => {
    const to = address('bob@example.org', { NOTIFY: 'SUCCESS,FAILURE' }, { notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;bob+tag=1@example.org' });
    assert.equal(rcptCommand(to, ALL), 'RCPT TO:<bob@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob+2Btag+3D1@example.org');
  });

  test('NOTIFY=NEVER alone', () => {
    assert.equal(rcptCommand(address('b@example.org', false, { notify: ['NEVER'] }), ALL), 'RCPT TO:<b@example.org> NOTIFY=NEVER');
  });

  test('an address with a space or non-ASCII in ORCPT cannot break the command line', () => {
    const to = address('b@example.org', false, { orcpt: 'utf-8;jörg b@example.org' });
    assert.equal(rcptCommand(to, ALL), 'RCPT TO:<b@example.org> ORCPT=utf-8;j+C3+B6rg+20b@example.org');
  });

  test('DSN parameters are dropped when the upstream has no DSN', () => {
    const to = address('bob@example.org', false, { notify: ['FAILURE'], orcpt: 'rfc822;bob@example.org' });
    assert.equal(rcptCommand(to, caps('SIZE')), 'RCPT TO:<bob@example.org>');
  });

  test('an empty NOTIFY list adds nothing', () => {
    assert.equal(rcptCommand(address('b@example.org', false, { notify: [] }), ALL), 'RCPT TO:<b@example.org>');
  });
});
