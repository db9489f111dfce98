import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SMTPServerSession } from 'smtp-server';
import { parseConfig } from '../../../src/config/load.js';
import { messageHeaderEdits, messageHeaderSettings, type Hop } from '../../../src/message/message-headers.js';
import type { Decision } from '../../../src/policy/decision.js';
import { builtinScanners } from '../../../src/scan/builtin.js';

const session = {
  id: 'sess1d',
  remoteAddress: '192.0.2.7',
  clientHostname: '[192.0.2.7]',
  hostNameAppearsAs: 'client.example.net',
  openingCommand: 'EHLO',
  secure: false,
  tlsOptions: false,
  envelope: { mailFrom: { address: 'a@client.example.net', args: false }, rcptTo: [{ address: 'alice@example.test', args: false }] },
} as unknown as SMTPServerSession;

const hop = (carriesClient: boolean): Hop => ({ session, carriesClient, user: undefined });
const settings = (raw: Record<string, unknown> = {}) =>
  messageHeaderSettings(parseConfig({ listen: { hostname: 'mx.example.test' }, scanners: [{ type: 'spamassassin', name: 'spamd' }], ...raw }, builtinScanners));

const scored = (score: number): Extract<Decision, { action: 'pass' }> => ({
  action: 'pass',
  headers: { remove: ['X-Spam-*'], add: [['X-Spam-Score', score.toFixed(1)]] },
  results: [{ name: 'spamd', type: 'spamassassin', verdict: { kind: 'scored', score, threshold: 5, rules: [] }, ms: 1, messageBytes: 10 }],
});
const names = (edits: { add: readonly (readonly [string, string])[] }) => edits.add.map(([name]) => name);

describe('messageHeaderEdits', () => {
  test('received: auto writes our Received on top only when the upstream session did not take the client', async () => {
    assert.deepEqual(names(await messageHeaderEdits(scored(1), settings(), hop(false))), ['Received', 'X-Spam-Score']);
    assert.deepEqual(names(await messageHeaderEdits(scored(1), settings(), hop(true))), ['X-Spam-Score']);
  });

  test('received: auto leaves ours out for a client an MTA in front named with XFORWARD (its Received names the client)', async () => {
    const forwarded = { ...session, xForward: new Map([['ADDR', '192.0.2.9'], ['ADDR:DEFAULT', '127.0.0.6']]) } as unknown as SMTPServerSession;
    assert.deepEqual(names(await messageHeaderEdits(scored(1), settings(), { session: forwarded, carriesClient: false, user: undefined })), ['X-Spam-Score']);
  });

  test('received: always and never', async () => {
    assert.deepEqual(names(await messageHeaderEdits(scored(1), settings({ received: 'always' }), hop(true))), ['Received', 'X-Spam-Score']);
    assert.deepEqual(names(await messageHeaderEdits(scored(1), settings({ received: 'never' }), hop(false))), ['X-Spam-Score']);
  });

  test('the Received header names the client, its HELO, our host name and session id', async () => {
    const [, value] = (await messageHeaderEdits(scored(1), settings(), hop(false))).add[0]!;
    assert.match(value, /^from client\.example\.net \(unknown \[192\.0\.2\.7\]\)\r\n\tby mx\.example\.test \(smtp-scan-proxy\) with ESMTP\r\n\tid sess1d\r\n\tfor <alice@example\.test>; /);
  });

  test('Exchange headers are removed from every message by default, with the policy\'s own', async () => {
    const { remove } = await messageHeaderEdits(scored(1), settings(), hop(true));
    assert.deepEqual(remove, ['X-Spam-*', 'X-MS-Exchange-Organization-*', 'X-MS-Exchange-*-AntiSpam-*', 'X-MS-Exchange-AntiSpam-*']);
  });

  test('no SCL unless exchange.scl is configured', async () => {
    assert.ok(!names(await messageHeaderEdits(scored(9), settings(), hop(true))).includes('X-MS-Exchange-Organization-SCL'));
  });

  test('with exchange.scl: the SCL last, a client\'s SCL removed even when removeHeaders leaves it out', async () => {
    const configured = settings({ exchange: { scl: { clean: 1, tagged: 7 }, removeHeaders: [] } });
    const tagged = await messageHeaderEdits(scored(5), configured, hop(true));
    assert.deepEqual(tagged.add.at(-1), ['X-MS-Exchange-Organization-SCL', '7']);
    assert.deepEqual(tagged.remove, ['X-Spam-*', 'X-MS-Exchange-Organization-SCL']);
    assert.deepEqual((await messageHeaderEdits(scored(4.9), configured, hop(true))).add.at(-1), ['X-MS-Exchange-Organization-SCL', '1']);
  });

  test('a message nothing scanned gets no SCL (no score to say it is clean)', async () => {
    const passUnchanged: Decision = { action: 'pass', headers: { remove: [], add: [] } };
    const edits = await messageHeaderEdits(passUnchanged, settings({ exchange: { scl: {} } }), hop(true));
    assert.deepEqual(edits.add, []);
  });
});

describe('exchange config', () => {
  test('defaults: SCL clean 0, tagged 6, no thresholds in between', () => {
    assert.deepEqual(settings({ exchange: { scl: {} } }).scl, { clean: 0, tagged: 6, scores: [] });
  });

  test('SCL -1 (Exchange skips its own filtering) is refused, in any place of the map', () => {
    for (const scl of [{ clean: -1 }, { tagged: -1 }, { scores: [{ score: 2, scl: -1 }] }, { tagged: 10 }]) {
      assert.throws(() => settings({ exchange: { scl } }), /exchange\.scl/);
    }
  });

  test('a header name with a colon or a space is refused', () => {
    assert.throws(() => settings({ exchange: { removeHeaders: ['X-A: b'] } }), /exchange\.removeHeaders/);
  });
});
