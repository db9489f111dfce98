/**
 * Issue 20: the upstream session sits idle, in the middle of its transaction, while the client's
 * message arrives and while it is scanned. Against the test Postfix's listener with
 * smtpd_timeout = 3s: a sender and a scanner each slower than that. Against a scripted upstream:
 * a NOOP refused.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { delayed, fakeScanner, type FakeFactory } from '../conformance/fake-scanners.js';
import { passUnchanged } from '../../src/policy/decision.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { bodyOf, nothingDelivered, services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { dotStuff, SmtpTestClient, type WireReply } from '../helpers/smtp-client.js';
import { startFakeServer } from '../unit/upstream/fake-server.js';

// 127.0.0.1 is the proxy's own address, the one Postfix takes XCLIENT from; a client needs another.
const CLIENT_ADDRESS = '127.0.0.3';
const QUEUED = /^250 2\.0\.0 Ok: (?:\d+ bytes )?queued as [0-9A-Za-z]+$/;

const body = Array.from({ length: 40 }, (_, i) => `Line ${String(i).padStart(2, '0')} ${'x'.repeat(90)}\r\n`).join('');
const message = (tag: string) =>
  `From: sender@client.example.net\r\nTo: alice@example.test\r\nSubject: ${tag}\r\nMessage-ID: <${tag}@client.example.net>\r\n\r\n${body}`;

/** MAIL, RCPT and DATA, each checked; the client is then past the 354. */
async function atData(port: number, rcpt: string): Promise<SmtpTestClient> {
  const client = await SmtpTestClient.afterEhlo(port, 'client.example.net', CLIENT_ADDRESS);
  for (const [line, code] of [['MAIL FROM:<sender@client.example.net>', 250], [`RCPT TO:<${rcpt}>`, 250], ['DATA', 354]] as const) {
    const reply = await client.command(line);
    assert.equal(reply.code, code, `${line}: ${reply.last}`);
  }
  return client;
}

/** Sends the message in `chunks` pieces `pause` ms apart, then the final dot; resolves with the reply. */
async function trickle(client: SmtpTestClient, text: string, chunks: number, pause: number): Promise<WireReply> {
  const wire = Buffer.concat([dotStuff(Buffer.from(text)), Buffer.from('.\r\n')]);
  const size = Math.ceil(wire.length / chunks);
  for (let offset = 0; offset < wire.length; offset += size) {
    client.write(wire.subarray(offset, offset + size));
    await sleep(pause);
  }
  return client.read(60_000);
}

/** A second copy would show up within this wait, as the first one did. */
async function deliveredOnce(tag: string): Promise<string> {
  const first = await waitForDelivery('alice', tag);
  assert.equal(first.length, 1, 'delivered');
  const later = await waitForDelivery('alice', tag, 2, 1500);
  assert.equal(later.length, 1, 'delivered exactly once');
  return later[0]!;
}

describe('upstream keepalive: NOOPs while the message arrives and is scanned', { concurrency: true }, () => {
  const proxies: TestProxy[] = [];
  after(async () => {
    for (const proxy of proxies) await proxy.stop(1000);
  });
  async function proxyWith(keepAlive: string | number, scanners: Record<string, unknown>[] = [], factories: FakeFactory[] = []): Promise<TestProxy> {
    const proxy = await startTestProxy(
      { upstream: { port: services.postfixShortTimeoutPort, keepAlive }, scanners },
      { factories: new Map(factories.map((factory) => [factory.type, factory] as const)) },
    );
    proxies.push(proxy);
    return proxy;
  }

  test('smtpd_timeout 3s, a sender trickling its message over 8 s: Postfix\'s 250, delivered once, body intact', async () => {
    const proxy = await proxyWith('1s');
    const { address, tag } = taggedAddress();
    const client = await atData(proxy.port, address);
    const final = await trickle(client, message(tag), 16, 500);
    await client.quit();
    assert.match(final.last, QUEUED);
    assert.equal(bodyOf(await deliveredOnce(tag)), body.replace(/\r\n/g, '\n'));
  });

  test('smtpd_timeout 3s, a scanner taking 6 s: Postfix\'s 250, delivered once', async () => {
    const slow = fakeScanner('fake-6s', delayed(6000));
    const proxy = await proxyWith('1s', [{ type: 'fake-6s', timeout: '30s' }], [slow]);
    const { address, tag } = taggedAddress();
    const client = await atData(proxy.port, address);
    const final = await trickle(client, message(tag), 1, 0);
    await client.quit();
    assert.equal(slow.scans.length, 1, 'the message went through the slow scanner');
    assert.match(final.last, QUEUED);
    await deliveredOnce(tag);
  });

  test('keepAlive 0 (off): the same slow sender loses the upstream session, 451 4.4.2, nothing delivered', async () => {
    const proxy = await proxyWith(0);
    const { address, tag } = taggedAddress();
    const client = await atData(proxy.port, address);
    const final = await trickle(client, message(tag), 16, 500);
    await client.quit();
    assert.equal(final.last, '451 4.4.2 Connection to the mail service lost, please try again later');
    assert.ok(await nothingDelivered('alice', tag), 'nothing delivered');
  });

  test('an upstream refusing NOOP (even with a 5xx): the message fails with 451, and DATA is never sent upstream', async () => {
    let noopRefused: () => void = () => undefined;
    const refused = new Promise<void>((resolve) => (noopRefused = resolve));
    let gotRest: (rest: Buffer) => void = () => undefined;
    const afterNoop = new Promise<Buffer>((resolve) => (gotRest = resolve));
    const upstream = await startFakeServer(async (c) => {
      await c.play('S: 220 mx.example.org ESMTP\nC: EHLO proxy.example.test\nS: 250 mx.example.org');
      const next = await c.readLine();
      if (next === 'QUIT') return c.send('221 2.0.0 Bye'); // the proxy's start-up probe
      assert.equal(next, 'MAIL FROM:<sender@client.example.net>');
      await c.play('S: 250 2.1.0 Ok\nC: RCPT TO:<alice@example.test>\nS: 250 2.1.5 Ok\nC: NOOP\nS: 502 5.5.2 Error: command not recognized');
      noopRefused();
      gotRest(await c.readUntilClose());
    });
    // The scan lasts until the NOOP has been refused, so the keepalive has something to report.
    const proxy = await startTestProxy(
      { upstream: { port: upstream.port, xclient: false, starttls: 'off', keepAlive: '100ms' } },
      { scanStage: { run: async () => refused.then(() => passUnchanged) } },
    );
    proxies.push(proxy);
    const client = await atData(proxy.port, 'alice@example.test');
    const final = await trickle(client, message('refused-noop'), 1, 0);
    await client.quit();
    await upstream.close();
    assert.equal(final.last, '451 4.3.2 Mail service not accepting messages, please try again later');
    assert.equal((await afterNoop).toString('latin1'), '');
  });
});
