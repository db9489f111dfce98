/**
 * Scanning faults end to end: a real proxy in front of the private Postfix, with real or fake
 * engines that fail. A fault is a 451 4.7.1 (the sender retries, nothing is lost), never a 250
 * for an unscanned message unless the config says onError: accept; nothing is delivered.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { headerOf, nothingDelivered, services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { dotStuff, SmtpTestClient, type WireReply } from '../helpers/smtp-client.js';
import { freePort, missingSocketPath, startHungServer } from '../conformance/engines.js';
import { delayed, fakeScanner, untilAborted, type FakeFactory } from '../conformance/fake-scanners.js';
import { fixture } from '../scenarios/scanning-scenarios.js';

const TEMPFAIL = /^451 4\.7\.1 /;
const skip = process.env.SSP_POSTFIX_PORT && process.env.SSP_CLAMD_SOCKET
  ? undefined
  : 'the private daemons are not in the environment: run scripts/services.sh start and eval "$(scripts/services.sh env)"';

/** A client that is past DATA's 354, ready to send the message and its final dot. */
async function atData(port: number, rcpt: string): Promise<SmtpTestClient> {
  const client = await SmtpTestClient.afterEhlo(port);
  for (const [line, code] of [['MAIL FROM:<alice@sender.example>', 250], [`RCPT TO:<${rcpt}>`, 250], ['DATA', 354]] as const) {
    const reply = await client.command(line);
    assert.equal(reply.code, code, `${line}: ${reply.last}`);
  }
  return client;
}

/** Sends the message and its final dot; resolves with the reply and the time from the dot to the reply. */
async function finish(client: SmtpTestClient, message: Buffer, timeout = 30_000): Promise<{ final: WireReply; ms: number }> {
  const started = performance.now();
  client.write(Buffer.concat([dotStuff(message), Buffer.from('.\r\n')]));
  const final = await client.read(timeout);
  return { final, ms: performance.now() - started };
}

async function sendOne(port: number, rcpt: string, message = fixture('clean.eml')): Promise<{ final: WireReply; ms: number }> {
  const client = await atData(port, rcpt);
  try {
    return await finish(client, message);
  } finally {
    await client.quit();
  }
}

describe('scanning faults: real proxy, real Postfix', { skip }, () => {
  const proxies: TestProxy[] = [];
  after(async () => {
    for (const proxy of proxies) await proxy.stop(1000);
  });
  async function proxyWith(scanners: Record<string, unknown>[], extra: { limits?: Record<string, unknown>; factories?: FakeFactory[] } = {}): Promise<TestProxy> {
    const factories = new Map((extra.factories ?? []).map((factory) => [factory.type, factory] as const));
    const proxy = await startTestProxy({ upstream: { port: services.postfixPort }, scanners, limits: extra.limits ?? {} }, { factories });
    proxies.push(proxy);
    return proxy;
  }

  test('clamd stopped (nothing listens on its port): 451 4.7.1, nothing delivered', async () => {
    const proxy = await proxyWith([{ type: 'clamav', host: '127.0.0.1', port: await freePort() }]);
    const { address, tag } = taggedAddress();
    const { final } = await sendOne(proxy.port, address);
    assert.equal(final.last, '451 4.7.1 Message could not be scanned, please try again later');
    assert.ok(await nothingDelivered('alice', tag), 'an unscanned message must not be delivered');
  });

  test("clamd's socket file missing: 451 4.7.1, nothing delivered; the real socket path delivers", async () => {
    const missing = await proxyWith([{ type: 'clamav', socket: missingSocketPath(path.dirname(services.clamdSocket)) }]);
    const refused = taggedAddress();
    assert.match((await sendOne(missing.port, refused.address)).final.last, TEMPFAIL);

    const working = await proxyWith([{ type: 'clamav', socket: services.clamdSocket }]);
    const accepted = taggedAddress();
    assert.equal((await sendOne(working.port, accepted.address)).final.code, 250);
    const [delivered] = await waitForDelivery('alice', accepted.tag);
    assert.match(headerOf(delivered ?? '', 'X-Virus-Scanned') ?? '(absent)', /^clamav clean at proxy\.example\.test$/);
    assert.ok(await nothingDelivered('alice', refused.tag, 0), 'the refused message must not be delivered');
  });

  test('clamd stopped with onError: accept: delivered, X-Virus-Scanned says clamav was not scanned', async () => {
    const proxy = await proxyWith([{ type: 'clamav', host: '127.0.0.1', port: await freePort(), onError: 'accept' }]);
    const { address, tag } = taggedAddress();
    const { final } = await sendOne(proxy.port, address);
    assert.equal(final.code, 250, final.last);
    const [delivered] = await waitForDelivery('alice', tag);
    assert.ok(delivered, 'delivered');
    assert.equal(headerOf(delivered, 'X-Virus-Scanned'), 'clamav not scanned (unavailable) at proxy.example.test');
  });

  test('spamd hung (accepts, never answers), timeout 2s: 451 4.7.1 after ~2 s, connection closed, nothing delivered', async () => {
    const engine = await startHungServer();
    try {
      const proxy = await proxyWith([{ type: 'spamassassin', host: engine.host, port: engine.port, timeout: '2s' }]);
      const { address, tag } = taggedAddress();
      const { final, ms } = await sendOne(proxy.port, address);
      assert.match(final.last, TEMPFAIL);
      assert.ok(ms >= 1900 && ms <= 5000, `reply ${Math.round(ms)} ms after the final dot, expected 2-5 s`);
      const connection = await engine.nextConnection(100);
      assert.ok(connection.bytes() > 0, 'the proxy sent spamd its request');
      assert.ok((await connection.waitClosed(2000)) !== undefined, 'the proxy still holds its spamd connection 2 s after the reply');
      assert.ok(await nothingDelivered('alice', tag), 'an unscanned message must not be delivered');
    } finally {
      await engine.close();
    }
  });

  test('the scans of one message run concurrently: 300 ms + 500 ms fakes take ~500 ms, not 800', async (t) => {
    const short = fakeScanner('fake-300', delayed(300));
    const long = fakeScanner('fake-500', delayed(500));
    const proxy = await proxyWith([{ type: 'fake-300' }, { type: 'fake-500' }], { factories: [short, long] });
    // one message to warm up the connection to Postfix and the code paths
    await sendOne(proxy.port, taggedAddress().address);
    const { address, tag } = taggedAddress();
    const { final, ms } = await sendOne(proxy.port, address);
    assert.equal(final.code, 250, final.last);
    assert.ok(ms >= 480, `${Math.round(ms)} ms: faster than the slowest scanner?`);
    assert.ok(ms < 750, `${Math.round(ms)} ms: the scans did not overlap`);
    const [delivered] = await waitForDelivery('alice', tag);
    assert.equal(headerOf(delivered ?? '', 'X-Virus-Scanned'), 'fake-300 clean, fake-500 clean at proxy.example.test');
    // for comparison, the sequential order (Haraka's) emulated by one scanner taking the sum
    const summed = fakeScanner('fake-800', delayed(800));
    const sequential = await proxyWith([{ type: 'fake-800' }], { factories: [summed] });
    await sendOne(sequential.port, taggedAddress().address);
    const one = await sendOne(sequential.port, taggedAddress().address);
    assert.equal(one.final.code, 250, one.final.last);
    t.diagnostic(`final dot to 250: parallel 300 ms | 500 ms: ${Math.round(ms)} ms; sequential (one 800 ms scanner): ${Math.round(one.ms)} ms`);
  });

  test('a full queue tempfails: concurrency 1, maxQueue 1, three messages at once: two 250, one 451 4.7.1; nothing piles up', async () => {
    const slow = fakeScanner('fake-1s', delayed(1000));
    const proxy = await proxyWith([{ type: 'fake-1s', concurrency: 1, maxQueue: 1 }], { factories: [slow] });
    const rcpts = [taggedAddress(), taggedAddress(), taggedAddress()];
    const clients = await Promise.all(rcpts.map(({ address }) => atData(proxy.port, address)));
    const outcomes = await Promise.all(clients.map((client) => finish(client, fixture('clean.eml'))));
    await Promise.all(clients.map((client) => client.quit()));
    const codes = outcomes.map(({ final }) => final.code).sort();
    assert.deepEqual(codes, [250, 250, 451], outcomes.map(({ final }) => final.last).join(' | '));
    const refused = outcomes.findIndex(({ final }) => final.code === 451);
    assert.match(outcomes[refused]!.final.last, TEMPFAIL);
    assert.ok(outcomes[refused]!.ms < 500, `the refusal came after ${Math.round(outcomes[refused]!.ms)} ms: it waited instead of failing fast`);
    // one ran (~1 s), one waited for it (~2 s), one was refused at once; afterwards the queue is empty again
    const after = taggedAddress();
    const next = await sendOne(proxy.port, after.address);
    assert.equal(next.final.code, 250, next.final.last);
    assert.ok(next.ms < 1800, `the next message took ${Math.round(next.ms)} ms: something was still queued`);
    assert.ok(await nothingDelivered('alice', rcpts[refused]!.tag), 'the refused message must not be delivered');
  });

  test('maxQueue 0 means no waiting, not no scanning: a message on an idle proxy is scanned (regression)', async () => {
    const slow = fakeScanner('fake-500ms', delayed(500));
    const proxy = await proxyWith([{ type: 'fake-500ms', concurrency: 1, maxQueue: 0 }], { factories: [slow] });
    const alone = await sendOne(proxy.port, taggedAddress().address);
    assert.equal(alone.final.code, 250, alone.final.last);
    const rcpts = [taggedAddress(), taggedAddress()];
    const clients = await Promise.all(rcpts.map(({ address }) => atData(proxy.port, address)));
    const outcomes = await Promise.all(clients.map((client) => finish(client, fixture('clean.eml'))));
    await Promise.all(clients.map((client) => client.quit()));
    assert.deepEqual(outcomes.map(({ final }) => final.code).sort(), [250, 451]);
  });

  test('a virus is refused at once, without waiting for a hung spam engine', async () => {
    const virus = fakeScanner('fake-virus', async () => ({ kind: 'infected', signature: 'Fake-Virus' }), 'antivirus');
    const stuck = fakeScanner('fake-hung-spam', untilAborted, 'antispam');
    const proxy = await proxyWith([{ type: 'fake-virus' }, { type: 'fake-hung-spam', timeout: '30s' }], { factories: [virus, stuck] });
    const { final, ms } = await sendOne(proxy.port, taggedAddress().address);
    assert.equal(final.last, '554 5.7.1 Message rejected: virus found: Fake-Virus');
    assert.ok(ms < 3000, `the 554 came ${Math.round(ms)} ms after the final dot`);
    assert.ok(stuck.scans[0]?.abortedAt !== undefined, 'the spam scan was aborted');
  });

  test('the DATA deadline: scanDeadline 1s over a scanner that never answers (timeout 30s): 451 4.7.1 after ~1 s', async () => {
    const stuck = fakeScanner('fake-stuck', untilAborted);
    const proxy = await proxyWith([{ type: 'fake-stuck', timeout: '30s' }], { limits: { scanDeadline: '1s' }, factories: [stuck] });
    const { address, tag } = taggedAddress();
    const { final, ms } = await sendOne(proxy.port, address);
    assert.match(final.last, TEMPFAIL);
    assert.ok(ms >= 950 && ms <= 3000, `reply ${Math.round(ms)} ms after the final dot, expected ~1 s`);
    const [scan] = stuck.scans;
    assert.ok(scan?.abortedAt !== undefined, "the deadline aborted the scanner's signal");
    assert.ok(await nothingDelivered('alice', tag), 'an unscanned message must not be delivered');
  });

  test('a client that disconnects after the final dot aborts its scans; nothing is delivered', async () => {
    const stuck = fakeScanner('fake-stuck', untilAborted);
    const proxy = await proxyWith([{ type: 'fake-stuck', timeout: '30s' }], { factories: [stuck] });
    const { address, tag } = taggedAddress();
    const client = await atData(proxy.port, address);
    client.write(Buffer.concat([dotStuff(fixture('clean.eml')), Buffer.from('.\r\n')]));
    const scan = await stuck.nextScan(5000);
    client.close();
    const gone = performance.now();
    const deadline = gone + 1000;
    while (scan.abortedAt === undefined && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.ok(scan.abortedAt !== undefined, "the scanner's signal was not aborted within 1 s of the disconnect");
    assert.ok(await nothingDelivered('alice', tag), 'the message of a client that left must not be delivered');
  });

  for (const [how, behaviour] of [
    ['throws synchronously', () => { throw new Error('scanner exploded'); }],
    ['returns a rejected promise', () => Promise.reject(new Error('scanner exploded'))],
  ] as const) {
    test(`a scanner that ${how}: 451 4.7.1 (fail closed), never 250`, async () => {
      const broken = fakeScanner('fake-broken', behaviour);
      const proxy = await proxyWith([{ type: 'fake-broken' }], { factories: [broken] });
      const tags: string[] = [];
      for (let i = 0; i < 3; i++) {
        const { address, tag } = taggedAddress();
        tags.push(tag);
        assert.match((await sendOne(proxy.port, address)).final.last, TEMPFAIL);
      }
      assert.equal(broken.scans.length, 3, 'the scanner was asked each time');
      for (const tag of tags) assert.ok(await nothingDelivered('alice', tag, tag === tags[0] ? 1500 : 0), 'nothing delivered');
    });
  }
});
