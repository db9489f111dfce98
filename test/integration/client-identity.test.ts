import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startProxyProcess } from '../helpers/proxy-process.js';
import { countingConnect, startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { headerOf, nothingDelivered, services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { capturedLogger } from '../helpers/captured-logger.js';

/**
 * Who the upstream thinks the client is. The test Postfix is set up as production has it:
 * XCLIENT only for the proxy's address (127.0.0.1), one trusted host (127.0.0.5) in mynetworks
 * with permit_mynetworks; clients connect from addresses of their own.
 */
const TRUSTED = '127.0.0.5';
const STRANGER = '127.0.0.7';
const FOREIGN = 'victim@elsewhere.invalid';

const message = (tag: string) =>
  `From: sender@client.example.net\r\nTo: alice@example.test\r\nSubject: ${tag}\r\nMessage-ID: <${tag}@client.example.net>\r\n\r\nHello.\r\n`;

/** One message from `from` to a fresh alice address; resolves with the final reply and Postfix's Received line. */
async function deliverFrom(port: number, from: string, helo = 'client.example.net'): Promise<{ final: string; received: string }> {
  const { address, tag } = taggedAddress();
  const client = await SmtpTestClient.afterEhlo(port, helo, from);
  const result = await client.send('sender@client.example.net', [address], message(tag));
  await client.quit();
  assert.equal(result.final?.code, 250, `delivered from ${from}: ${result.final?.last ?? result.mail.last}`);
  const [delivered] = await waitForDelivery('alice', tag);
  assert.ok(delivered, `message from ${from} arrived`);
  return { final: result.final!.last, received: headerOf(delivered, 'Received') ?? '' };
}

/**
 * A whole message to a foreign domain from `from`: the first refusal (MAIL's or RCPT's) or the
 * final reply. A completed transaction leaves the upstream session fit for the pool.
 */
async function relayAttempt(port: number, from: string): Promise<string> {
  const client = await SmtpTestClient.afterEhlo(port, 'client.example.net', from);
  const result = await client.send('sender@client.example.net', [FOREIGN], message('relay'));
  await client.quit();
  if (result.mail.code !== 250) return result.mail.last;
  if (result.rcpts[0]!.code !== 250) return result.rcpts[0]!.last;
  return (result.final ?? result.data!).last;
}

// Time for the proxy to give the upstream session back after the client's QUIT.
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const settle = () => pause(200);

describe('an upstream session speaks for exactly one client (pool on)', () => {
  let proxy: TestProxy;
  const { connect: counting, opened } = countingConnect();

  before(async () => {
    proxy = await startTestProxy({ upstream: { port: services.postfixPort, poolSize: 16 } }, { connect: counting });
  });
  after(() => proxy.stop(1000));

  test('issue 15: a stranger after a trusted client gets Postfix\'s Relay access denied', async () => {
    // The trusted host may relay: the proxy really passes its address.
    assert.match(await relayAttempt(proxy.port, TRUSTED), /^250 /);
    await settle();
    assert.match(await relayAttempt(proxy.port, STRANGER), /^554 5\.7\.1 <victim@elsewhere\.invalid>: Relay access denied/);
  });

  test('every delivered message\'s Received header names its own client, one after another', async () => {
    for (const from of [TRUSTED, '127.0.0.2', STRANGER, '127.0.0.3', TRUSTED]) {
      const { received } = await deliverFrom(proxy.port, from, `host-${from.replaceAll('.', '-')}.example.net`);
      assert.match(received, new RegExp(`^from host-${from.replaceAll('.', '-')}\\.example\\.net \\(unknown \\[${from.replaceAll('.', '\\.')}\\]\\)`));
      await settle();
    }
  });

  test('every delivered message\'s Received header names its own client, all at once', async () => {
    const senders = ['127.0.0.2', '127.0.0.3', '127.0.0.4', TRUSTED, '127.0.0.6', STRANGER];
    const results = await Promise.all(senders.map((from) => deliverFrom(proxy.port, from)));
    results.forEach(({ received }, index) => assert.match(received, new RegExp(`\\[${senders[index]!.replaceAll('.', '\\.')}\\]\\)`)));
  });

  test('the proxy\'s own address keeps XCLIENT on the upstream, so its sessions are still handed on', async () => {
    await deliverFrom(proxy.port, '127.0.0.1');
    await settle();
    const before = opened();
    await deliverFrom(proxy.port, '127.0.0.1');
    assert.equal(opened(), before, 'the pooled session was reused');
  });
});

describe('an upstream session speaks for exactly one client (several workers)', () => {
  test('a stranger after a trusted client is refused, and each Received header names its own client', async () => {
    const proxy = await startProxyProcess({ workers: 2, upstream: { port: services.postfixPort, poolSize: 16 } });
    try {
      for (let round = 0; round < 3; round++) {
        assert.match(await relayAttempt(proxy.port, TRUSTED), /^250 /);
        await settle();
        assert.match(await relayAttempt(proxy.port, STRANGER), /^554 5\.7\.1 /);
        await settle();
      }
      const senders = ['127.0.0.2', '127.0.0.3', TRUSTED, STRANGER];
      const results = await Promise.all(senders.map((from) => deliverFrom(proxy.port, from)));
      results.forEach(({ received }, index) => assert.match(received, new RegExp(`\\[${senders[index]!.replaceAll('.', '\\.')}\\]\\)`)));
    } finally {
      assert.equal(await proxy.stop(), 0);
    }
  });
});

describe('XCLIENT expected but not offered (issue 19)', () => {
  test('Postfix with its first-install defaults (proxy in mynetworks, no XCLIENT): no relay, 451 4.3.5, a log line that says what to add', async () => {
    const { logger, lines } = capturedLogger();
    const proxy = await startTestProxy({ upstream: { port: services.postfixOpenPort } }, { logger });
    const saysWhatToAdd = () => lines.filter((line) => String(line.msg).includes('smtpd_authorized_xclient_hosts'));
    try {
      // Said at start-up, before any client: the proxy's probe of the upstream finds it.
      for (let waited = 0; saysWhatToAdd().length === 0 && waited < 5000; waited += 50) await pause(50);
      assert.equal(saysWhatToAdd().length, 1, 'said at start-up');
      assert.equal(await relayAttempt(proxy.port, STRANGER), '451 4.3.5 Mail service configuration error, please try again later');
      const { address, tag } = taggedAddress();
      const client = await SmtpTestClient.afterEhlo(proxy.port, 'client.example.net', STRANGER);
      const result = await client.send('sender@client.example.net', [address], message(tag));
      await client.quit();
      assert.equal(result.mail.code, 451);
      assert.ok(await nothingDelivered('alice', tag, 500));
      const logged = saysWhatToAdd();
      assert.equal(logged.length, 1, 'said once, not again for each client');
      assert.equal(logged[0]!.level, 50);
      assert.match(String(logged[0]!.msg), /Add 127\.0\.0\.1 to smtpd_authorized_xclient_hosts/, 'names the address to add');
      assert.match(String(logged[0]!.msg), /upstream\.xclient: false/);
    } finally {
      await proxy.stop(1000);
    }
  });

  test('with upstream.xclient: false the admin runs without XCLIENT on purpose, and Postfix judges the proxy', async () => {
    const proxy = await startTestProxy({ upstream: { port: services.postfixOpenPort, xclient: false } });
    try {
      const { received } = await deliverFrom(proxy.port, STRANGER);
      assert.match(received, /^from proxy\.example\.test \(localhost \[127\.0\.0\.1\]\)/);
    } finally {
      await proxy.stop(1000);
    }
  });
});

describe('client-chosen XCLIENT values never turn into a permanent 451 (issue 19)', () => {
  let proxy: TestProxy;
  const captured = capturedLogger();
  before(async () => {
    proxy = await startTestProxy({ upstream: { port: services.postfixPort } }, { logger: captured.logger });
  });
  after(() => proxy.stop(1000));

  test('a 300-character HELO is delivered, with the name Postfix can take, and the log says what was cut', async () => {
    const helo = `${'h'.repeat(290)}.example`;
    const { received } = await deliverFrom(proxy.port, STRANGER, helo);
    assert.match(received, new RegExp(`^from h{200,255} \\(unknown \\[127\\.0\\.0\\.7\\]\\)`));
    assert.ok(captured.lines.some((line) => /HELO/.test(String(line.msg)) && /cut|left out/.test(String(line.msg))));
  });

  test('a HELO of 255 characters plus a long PTR-less identity still fits Postfix\'s rules', async () => {
    const helo = 'a'.repeat(255);
    const { received } = await deliverFrom(proxy.port, '127.0.0.2', helo);
    assert.match(received, new RegExp(`^from a{255} \\(unknown \\[127\\.0\\.0\\.2\\]\\)`));
  });
});

describe('IPv6 senders (issue 18)', () => {
  test('a client over IPv6 in front of an IPv4-only Postfix is delivered as an unknown address and gains no trust', async () => {
    const { logger, lines } = capturedLogger();
    const proxy = await startTestProxy({ listen: { host: '::1' }, upstream: { port: services.postfixPort } }, { logger });
    try {
      const first = await deliverFrom(proxy.port, '::1', 'v6-client.example.net');
      assert.match(first.received, /^from v6-client\.example\.net \(unknown \[unknown\]\)/);
      await deliverFrom(proxy.port, '::1', 'v6-client.example.net');
      assert.match(await relayAttempt(proxy.port, '::1'), /^554 5\.7\.1 /);
      const warnings = lines.filter((line) => /IPv6/.test(String(line.msg)) && /inet_protocols/.test(String(line.msg)));
      assert.equal(warnings.length, 1, 'said once per upstream');
    } finally {
      await proxy.stop(1000);
    }
  });

  test('a client over IPv6 in front of a Postfix with IPv6 on is named by its address', async () => {
    const proxy = await startTestProxy({ listen: { host: '::1' }, upstream: { port: services.postfixIpv6Port } });
    try {
      const { received } = await deliverFrom(proxy.port, '::1', 'v6-client.example.net');
      assert.match(received, /^from v6-client\.example\.net \(unknown \[IPv6:::1\]\)/);
    } finally {
      await proxy.stop(1000);
    }
  });
});
