import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { capturedLogger } from '../helpers/captured-logger.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { headerOf, services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';

/**
 * Exchange emulated: the test Postfix's port with first-install defaults offers no XCLIENT to
 * the proxy (upstream.xclient: false, as for Exchange), so only the headers the proxy writes
 * tell the next hop who the client was and what the scanners thought.
 */
const root = path.resolve(import.meta.dirname, '../..');
const fixture = async (name: string, tag: string) =>
  (await readFile(path.join(root, 'fixtures', name), 'latin1')).replace(/^Message-ID: <[^>]*>/m, `Message-ID: <${tag}@client.example.net>`);
const spamd = (extra: Record<string, unknown> = {}) => ({ type: 'spamassassin', host: '127.0.0.1', port: services.spamdPort, ...extra });
const SCL = 'X-MS-Exchange-Organization-SCL';
const exchange = { scl: { clean: 1, tagged: 6, scores: [{ score: 4, scl: 4 }] } };

/** Every field of a delivered message (Maildir: LF line ends), unfolded, in order. */
function fields(delivered: string): [name: string, value: string][] {
  const head = delivered.slice(0, delivered.indexOf('\n\n')).replace(/\n[ \t]+/g, ' ');
  return head.split('\n').map((line) => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon), line.slice(colon + 1).trim()];
  });
}
const valuesOf = (delivered: string, name: string) =>
  fields(delivered).filter(([field]) => field.toLowerCase() === name.toLowerCase()).map(([, value]) => value);

async function deliver(port: number, message: (tag: string) => Promise<string> | string, options: { from?: string; tls?: boolean } = {}) {
  const { address, tag } = taggedAddress();
  const client = await SmtpTestClient.afterEhlo(port, 'client.example.net', options.from ?? '127.0.0.2');
  if (options.tls) {
    await client.startTls();
    assert.equal((await client.command('EHLO client.example.net')).code, 250);
  }
  const result = await client.send('sender@client.example.net', [address], await message(tag));
  await client.quit();
  assert.equal(result.final?.code, 250, result.final?.last ?? result.data?.last);
  const [delivered] = await waitForDelivery('alice', tag);
  assert.ok(delivered, 'delivered');
  return { delivered, address, queueId: result.final.last.split(' ').pop() };
}

describe('in front of an upstream without XCLIENT (Exchange): our Received header and the SCL', () => {
  const captured = capturedLogger();
  let proxy: TestProxy;
  before(async () => {
    proxy = await startTestProxy(
      { upstream: { port: services.postfixOpenPort, xclient: false }, tls: services.tls, scanners: [spamd()], exchange },
      { logger: captured.logger },
    );
  });
  after(() => proxy.stop(1000));

  test('a clean message arrives with our Received under the upstream\'s: the client\'s HELO and address, our name and session id', async () => {
    const { delivered, address, queueId } = await deliver(proxy.port, (tag) => fixture('clean.eml', tag), { from: '127.0.0.3' });
    const [upstreams, ours] = valuesOf(delivered, 'Received');
    assert.match(upstreams!, /^from proxy\.example\.test \(localhost \[127\.0\.0\.1\]\) by mx\.example\.test/, 'the upstream sees only the proxy');
    const line = captured.lines.find((entry) => entry.msg === 'message relayed' && entry.queueId === queueId);
    assert.ok(line, 'the message\'s log line');
    assert.match(
      ours!,
      new RegExp(`^from client\\.example\\.net \\(unknown \\[127\\.0\\.0\\.3\\]\\) by proxy\\.example\\.test \\(smtp-scan-proxy\\) with ESMTP `
        + `id ${String(line.cid)} for <${address.replace(/[.+]/g, '\\$&')}>; \\w{3}, \\d{1,2} \\w{3} \\d{4} \\d\\d:\\d\\d:\\d\\d \\+0000$`),
    );
    assert.equal(headerOf(delivered, SCL), '1');
  });

  test('over TLS: ESMTPS, with the TLS version and cipher', async () => {
    const { delivered } = await deliver(proxy.port, (tag) => fixture('clean.eml', tag), { tls: true });
    assert.match(valuesOf(delivered, 'Received')[1]!, / with ESMTPS \(TLSv1\.[23] [A-Z0-9_-]+\) id /);
  });

  test('a client\'s X-MS-Exchange-Organization-* and anti-spam headers never arrive, however written; ours is the one SCL', async () => {
    const forged = [
      'X-MS-Exchange-Organization-SCL: -1',
      'x-ms-exchange-organization-scl : -1',
      'X-MS-Exchange-Organization-SCL:\n\t-1',
      'X-MS-Exchange-Organization-AuthAs: Internal',
      'X-MS-Exchange-Organization-AuthSource: ex01.contoso.com',
      'X-MS-Exchange-ExternalHop-AntiSpam-Report: SFV:SKN',
      'X-MS-Exchange-AntiSpam-Relay: 0',
      'X-MS-Exchange-CrossTenant-Id: kept',
    ].join('\r\n').replaceAll('\n\t', '\r\n\t');
    const { delivered, queueId } = await deliver(proxy.port, async (tag) => (await fixture('clean.eml', tag)).replace(/^Subject:/m, `${forged}\r\nSubject:`));
    assert.deepEqual(valuesOf(delivered, SCL), ['1']);
    const exchangeFields = fields(delivered).filter(([name]) => /^x-ms-exchange-/i.test(name));
    assert.deepEqual(exchangeFields, [[SCL, '1'], ['X-MS-Exchange-CrossTenant-Id', 'kept']]);
    const line = captured.lines.find((entry) => entry.msg === 'message relayed' && entry.queueId === queueId);
    assert.deepEqual(line?.removedHeaders, [
      SCL,
      'x-ms-exchange-organization-scl',
      'X-MS-Exchange-Organization-AuthAs',
      'X-MS-Exchange-Organization-AuthSource',
      'X-MS-Exchange-ExternalHop-AntiSpam-Report',
      'X-MS-Exchange-AntiSpam-Relay',
    ], 'the message\'s log line names what the sender tried');
  });
});

describe('SCL per verdict', () => {
  let tagOnly: TestProxy;
  let observe: TestProxy;
  before(async () => {
    const upstream = { port: services.postfixOpenPort, xclient: false };
    tagOnly = await startTestProxy({ upstream, scanners: [spamd({ rejectScore: 10_000 })], exchange });
    observe = await startTestProxy({ upstream, policy: { mode: 'observe' }, scanners: [spamd()], exchange });
  });
  after(() => Promise.all([tagOnly.stop(1000), observe.stop(1000)]));

  test('GTUBE with a tag-only config: delivered tagged, SCL tagged (Exchange\'s Junk folder)', async () => {
    const { delivered } = await deliver(tagOnly.port, (tag) => fixture('gtube.eml', tag));
    assert.equal(headerOf(delivered, 'X-Spam-Flag'), 'YES');
    assert.equal(headerOf(delivered, SCL), '6');
  });

  test('GTUBE in observe mode: delivered as it would have been refused, SCL tagged', async () => {
    const { delivered } = await deliver(observe.port, (tag) => fixture('gtube.eml', tag));
    assert.match(headerOf(delivered, 'X-Scan-Proxy-Observe')!, /^would reject: 550 5\.7\.1 /);
    assert.equal(headerOf(delivered, SCL), '6');
  });
});

describe('without exchange.scl (the default)', () => {
  let proxy: TestProxy;
  before(async () => {
    proxy = await startTestProxy({ upstream: { port: services.postfixOpenPort, xclient: false } });
  });
  after(() => proxy.stop(1000));

  test('no scanner, no SCL, and still no client-sent SCL', async () => {
    const { delivered } = await deliver(proxy.port, async (tag) => (await fixture('clean.eml', tag)).replace(/^Subject:/m, `X-MS-Exchange-Organization-SCL: -1\r\nSubject:`));
    assert.deepEqual(valuesOf(delivered, SCL), []);
    assert.match(valuesOf(delivered, 'Received')[1]!, /^from client\.example\.net \(unknown \[127\.0\.0\.2\]\) by proxy\.example\.test \(smtp-scan-proxy\)/);
  });
});

describe('received: auto, when a Received header names the client already', () => {
  let auto: TestProxy;
  let always: TestProxy;
  let xforwardOut: TestProxy;
  let xforwardIn: TestProxy;
  before(async () => {
    auto = await startTestProxy({ upstream: { port: services.postfixPort } });
    always = await startTestProxy({ upstream: { port: services.postfixPort }, received: 'always' });
    // Postfix's after-filter smtpd (SMTPD_PROXY_README): XFORWARD for the proxy, no XCLIENT.
    xforwardOut = await startTestProxy({ upstream: { port: services.postfixAfterFilterPort, xclient: false } });
    // The tests' client plays the MTA in front that names its client with XFORWARD.
    xforwardIn = await startTestProxy({ listen: { xforward: { trusted: ['127.0.0.0/8'] } }, upstream: { port: services.postfixOpenPort, xclient: false } });
  });
  after(() => Promise.all([auto.stop(1000), always.stop(1000), xforwardOut.stop(1000), xforwardIn.stop(1000)]));

  test('XCLIENT: the upstream\'s Received names the client, ours would say it twice and is left out', async () => {
    const { delivered } = await deliver(auto.port, (tag) => fixture('clean.eml', tag));
    const received = valuesOf(delivered, 'Received');
    assert.match(received[0]!, /^from client\.example\.net \(unknown \[127\.0\.0\.2\]\) by mx\.example\.test/);
    assert.ok(!received.some((value) => value.includes('smtp-scan-proxy')), received.join('\n'));
  });

  test('always: ours under the upstream\'s', async () => {
    const { delivered } = await deliver(always.port, (tag) => fixture('clean.eml', tag));
    assert.match(valuesOf(delivered, 'Received')[1]!, /^from client\.example\.net \(unknown \[127\.0\.0\.2\]\) by proxy\.example\.test \(smtp-scan-proxy\)/);
  });

  test('XFORWARD to the upstream names the client in its log only: its Received names the proxy, so ours is written', async () => {
    const { delivered } = await deliver(xforwardOut.port, (tag) => fixture('clean.eml', tag), { from: '127.0.0.4' });
    const [upstreams, ours] = valuesOf(delivered, 'Received');
    assert.match(upstreams!, /^from proxy\.example\.test \(localhost \[127\.0\.0\.1\]\) by mx\.example\.test/);
    assert.match(ours!, /^from client\.example\.net \(unknown \[127\.0\.0\.4\]\) by proxy\.example\.test \(smtp-scan-proxy\)/);
  });

  test('a client named to us with XFORWARD: the MTA in front wrote its Received, ours is left out', async () => {
    const { address, tag } = taggedAddress();
    const client = await SmtpTestClient.afterEhlo(xforwardIn.port, 'front.example.test', '127.0.0.6');
    assert.equal((await client.command('XFORWARD NAME=[UNAVAILABLE] ADDR=192.0.2.9 HELO=remote.example.net')).code, 250);
    const front = 'Received: from remote.example.net (unknown [192.0.2.9])\r\n\tby front.example.test (Postfix) with ESMTP id 4XyZ\r\n\tfor <x@example.test>; Mon, 30 Nov 2026 05:00:00 +0000\r\n';
    const result = await client.send('sender@client.example.net', [address], front + (await fixture('clean.eml', tag)));
    await client.quit();
    assert.equal(result.final?.code, 250, result.final?.last);
    const [delivered] = await waitForDelivery('alice', tag);
    const received = valuesOf(delivered!, 'Received');
    assert.equal(received.length, 2, received.join('\n'));
    assert.match(received[1]!, /^from remote\.example\.net \(unknown \[192\.0\.2\.9\]\) by front\.example\.test/);
  });
});
