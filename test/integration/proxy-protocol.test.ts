import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startProxyProcess } from '../helpers/proxy-process.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { localV2, proxyV1, proxyV2 } from '../helpers/proxy-header.js';
import { headerOf, services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { capturedLogger } from '../helpers/captured-logger.js';

/**
 * listen.proxyProtocol in front of the real test Postfix. The load balancer is this test: it
 * connects from 127.0.0.1 (the trusted peer) and writes the header a balancer would, naming
 * clients from documentation ranges; Postfix learns them through XCLIENT.
 */
const BALANCER = '127.0.0.1';
const STRANGER = '127.0.0.2';

const message = (tag: string) =>
  `From: sender@client.example.net\r\nTo: alice@example.test\r\nSubject: ${tag}\r\nMessage-ID: <${tag}@client.example.net>\r\n\r\nHello.\r\n`;

/** Connects as the balancer (or `from`), writes `header`, and expects the banner. */
async function greetedThrough(port: number, header: Buffer, from = BALANCER): Promise<SmtpTestClient> {
  const client = await SmtpTestClient.connect(port, from);
  client.write(header);
  const banner = await client.read(10_000);
  assert.equal(banner.code, 220, `banner: ${banner.last}`);
  return client;
}

/** One message after `header`; resolves with Postfix's Received header. */
async function deliverThrough(port: number, header: Buffer, from = BALANCER): Promise<string> {
  const { address, tag } = taggedAddress();
  const client = await greetedThrough(port, header, from);
  assert.equal((await client.command('EHLO client.example.net')).code, 250);
  const result = await client.send('sender@client.example.net', [address], message(tag));
  await client.quit();
  assert.equal(result.final?.code, 250, result.final?.last ?? result.mail.last);
  const [delivered] = await waitForDelivery('alice', tag);
  assert.ok(delivered, 'delivered');
  return headerOf(delivered, 'Received') ?? '';
}

/** The server closed the connection and never sent a byte (no banner, no reply). */
async function closedWithoutBanner(client: SmtpTestClient): Promise<void> {
  await client.closedByServer();
  await assert.rejects(client.read(1000), /connection closed/, 'nothing was sent before the close');
}

const v2 = (address: string, port = 40_000) => proxyV2([address, port], [address.includes(':') ? '2001:db8::25' : '192.0.2.25', 25]);
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('PROXY protocol from a trusted balancer', () => {
  let proxy: TestProxy;
  const captured = capturedLogger('debug');
  before(async () => {
    proxy = await startTestProxy(
      { listen: { proxyProtocol: { trusted: ['127.0.0.1/32'] } }, upstream: { port: services.postfixPort } },
      { logger: captured.logger },
    );
  });
  after(() => proxy.stop(1000));

  test('v2: Postfix\'s Received header names the client from the header', async () => {
    assert.match(await deliverThrough(proxy.port, v2('203.0.113.7')), /^from client\.example\.net \(unknown \[203\.0\.113\.7\]\)/);
  });

  test('v1: likewise', async () => {
    const header = proxyV1('TCP4', ['203.0.113.8', 40_001], ['192.0.2.25', 25]);
    assert.match(await deliverThrough(proxy.port, header), /^from client\.example\.net \(unknown \[203\.0\.113\.8\]\)/);
  });

  test('v2 with an IPv6 client in front of an IPv4-only Postfix: delivered as an unknown address', async () => {
    assert.match(await deliverThrough(proxy.port, v2('2001:db8::7')), /^from client\.example\.net \(unknown \[unknown\]\)/);
  });

  test('LOCAL (a health check) gets the banner, and its mail is the balancer\'s own', async () => {
    const client = await greetedThrough(proxy.port, localV2());
    assert.equal((await client.command('NOOP')).code, 250);
    await client.quit();
    assert.match(await deliverThrough(proxy.port, localV2()), /\[127\.0\.0\.1\]\)/);
  });

  test('the per-message log line names the client, not the balancer', async () => {
    await deliverThrough(proxy.port, v2('203.0.113.9'));
    assert.ok(captured.lines.some((line) => line.client === '203.0.113.9' && line.peer === BALANCER && /PROXY header read/.test(String(line.msg))));
    assert.ok(captured.lines.some((line) => line.client === '203.0.113.9' && line.msg === 'message relayed'));
  });

  test('a peer not in trusted is closed without a banner, even with a good header', async () => {
    const client = await SmtpTestClient.connect(proxy.port, STRANGER);
    client.write(v2('203.0.113.7'));
    await closedWithoutBanner(client);
    assert.ok(captured.lines.some((line) => line.peer === STRANGER && /not in listen\.proxyProtocol\.trusted/.test(String(line.msg))));
  });

  const garbage: [string, Buffer][] = [
    ['SMTP instead of a header', Buffer.from('EHLO client.example.net\r\n')],
    ['a v1 line over 107 bytes', Buffer.from(`PROXY TCP4 203.0.113.7 192.0.2.25 1 25${' '.repeat(80)}\r\n`)],
    ['a v2 header of version 1', proxyV2(['203.0.113.7', 1], ['192.0.2.25', 25], { versionCommand: 0x11 })],
    ['a v2 header over UDP', proxyV2(['203.0.113.7', 1], ['192.0.2.25', 25], { family: 0x12 })],
  ];
  for (const [name, header] of garbage) {
    test(`${name}: closed without a banner, and the log says why`, async () => {
      const client = await SmtpTestClient.connect(proxy.port, BALANCER);
      client.write(header);
      await closedWithoutBanner(client);
      const logged = captured.lines.filter((line) => /invalid PROXY header/.test(String(line.msg)));
      assert.ok(logged.length > 0 && logged.every((line) => line.peer === BALANCER && typeof line.reason === 'string'));
    });
  }

  test('a header in pieces, one byte at a time, is still read', async () => {
    const client = await SmtpTestClient.connect(proxy.port, BALANCER);
    const header = v2('203.0.113.10');
    for (const byte of header) {
      client.write(Buffer.from([byte]));
      await pause(2);
    }
    assert.equal((await client.read(10_000)).code, 220);
    await client.quit();
  });
});

describe('PROXY protocol: limits and timing', () => {
  test('per-address limits count the client from the header, not the balancer', async () => {
    const proxy = await startTestProxy({
      listen: { proxyProtocol: { trusted: ['127.0.0.1/32'] } },
      limits: { maxClientsPerIp: 1 },
      upstream: { port: services.postfixPort },
    });
    try {
      const first = await greetedThrough(proxy.port, v2('203.0.113.7'));
      const other = await greetedThrough(proxy.port, v2('203.0.113.8'));
      const again = await SmtpTestClient.connect(proxy.port, BALANCER);
      again.write(v2('203.0.113.7', 40_002));
      assert.match((await again.read(10_000)).last, /^421 4\.7\.0 Too many connections from your address/);
      for (const client of [first, other, again]) await client.quit();
    } finally {
      await proxy.stop(1000);
    }
  });

  test('no header within the timeout: closed without a banner', async () => {
    const { logger, lines } = capturedLogger('debug');
    const proxy = await startTestProxy({ listen: { proxyProtocol: { trusted: ['127.0.0.1/32'], timeout: '300ms' } } }, { logger });
    try {
      const silent = await SmtpTestClient.connect(proxy.port, BALANCER);
      await closedWithoutBanner(silent);
      // Part of a header, the rest never comes.
      const partial = await SmtpTestClient.connect(proxy.port, BALANCER);
      partial.write(v2('203.0.113.7').subarray(0, 20));
      await closedWithoutBanner(partial);
      assert.equal(lines.filter((line) => /no PROXY header within listen\.proxyProtocol\.timeout/.test(String(line.reason))).length, 2);
    } finally {
      await proxy.stop(1000);
    }
  });

  test('a client that talks right behind the header is an early talker, as without the PROXY protocol', async () => {
    const proxy = await startTestProxy({
      listen: { proxyProtocol: { trusted: ['127.0.0.1/32'] } },
      limits: { greetDelay: '300ms' },
      upstream: { port: services.postfixPort },
    });
    try {
      const client = await SmtpTestClient.connect(proxy.port, BALANCER);
      client.write(Buffer.concat([v2('203.0.113.7'), Buffer.from('EHLO early.example.net\r\n')]));
      assert.match((await client.read(10_000)).last, /^421 .*You talk too soon/);
      client.close();
    } finally {
      await proxy.stop(1000);
    }
  });

  test('shutting down closes the connections still waiting for their header', async () => {
    const proxy = await startTestProxy({ listen: { proxyProtocol: { trusted: ['127.0.0.1/32'], timeout: '5m' } } });
    const waiting = await SmtpTestClient.connect(proxy.port, BALANCER);
    await pause(50);
    await proxy.stop(1000);
    await closedWithoutBanner(waiting);
  });
});

describe('PROXY protocol with an IPv6 client in front of a Postfix with IPv6 on', () => {
  test('Postfix\'s Received header names the IPv6 client from the header', async () => {
    const proxy = await startTestProxy({ listen: { proxyProtocol: { trusted: ['127.0.0.1/32'] } }, upstream: { port: services.postfixIpv6Port } });
    try {
      assert.match(await deliverThrough(proxy.port, v2('2001:db8::7')), /^from client\.example\.net \(unknown \[IPv6:2001:db8::7\]\)/);
    } finally {
      await proxy.stop(1000);
    }
  });
});

describe('PROXY protocol with several workers', () => {
  test('each worker reads the header; every Received header names its own client', async () => {
    const proxy = await startProxyProcess({ workers: 2, listen: { proxyProtocol: { trusted: ['127.0.0.1/32'] } }, upstream: { port: services.postfixPort } });
    try {
      const clients = ['203.0.113.21', '203.0.113.22', '203.0.113.23', '203.0.113.24'];
      const received = await Promise.all(clients.map((client) => deliverThrough(proxy.port, v2(client))));
      received.forEach((line, index) => assert.match(line, new RegExp(`\\(unknown \\[${clients[index]!.replaceAll('.', '\\.')}\\]\\)`)));
      const stranger = await SmtpTestClient.connect(proxy.port, STRANGER);
      stranger.write(v2('203.0.113.7'));
      await closedWithoutBanner(stranger);
    } finally {
      assert.equal(await proxy.stop(), 0);
    }
  });
});
