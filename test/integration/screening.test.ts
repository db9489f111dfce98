import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { passUnchanged } from '../../src/policy/decision.js';
import type { ScanStage } from '../../src/scan/stage.js';
import { startProxyProcess } from '../helpers/proxy-process.js';
import { countingConnect, startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { capturedLogger } from '../helpers/captured-logger.js';

/**
 * Screening against a real rbldnsd (scripts/README.md lists its zones): 127.0.0.20/21 and ::1
 * are on block.test, 127.0.0.30 on allow.test, 127.0.0.40 gets Spamhaus's error answer from
 * error.test, 127.0.0.50 is on multi.test. Other 127.0.0.0/8 addresses are on no list.
 */
const dns = () => `127.0.0.1:${Number(process.env.SSP_RBLDNSD_PORT ?? 10053)}`;
const zones = [
  { zone: 'block.test', name: 'block.example', weight: 2, ipv6: true },
  { zone: 'allow.test', weight: -2 },
  { zone: 'error.test', weight: 2 },
  { zone: 'multi.test', answers: ['127.0.0.11'], weight: 1 },
];

const message = (tag: string) => `From: s@client.example.net\r\nTo: alice@example.test\r\nSubject: ${tag}\r\n\r\nHello.\r\n`;

/** A proxy in front of the test Postfix with `screening`, counting upstream sessions and scans. */
async function screeningProxy(screening: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const { connect, opened } = countingConnect();
  let scans = 0;
  const scanStage: ScanStage = {
    run: async () => {
      scans++;
      return passUnchanged;
    },
  };
  const { logger, lines } = capturedLogger();
  const proxy = await startTestProxy(
    { upstream: { port: services.postfixPort, poolSize: 0 }, screening: { dnsLists: { resolver: { servers: [dns()] }, zones }, ...screening }, ...extra },
    { connect, scanStage, logger },
  );
  // The proxy probes the upstream once at start-up; only sessions after that count.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const base = opened();
  return { proxy, upstreamSessions: () => opened() - base, scans: () => scans, lines };
}

async function deliver(proxy: TestProxy, from: string): Promise<string> {
  const { address, tag } = taggedAddress();
  const client = await SmtpTestClient.afterEhlo(proxy.port, 'client.example.net', from);
  const result = await client.send('s@client.example.net', [address], message(tag));
  await client.quit();
  assert.equal(result.final?.code, 250, `from ${from}: ${(result.final ?? result.rcpts[0] ?? result.mail).last}`);
  assert.equal((await waitForDelivery('alice', tag)).length, 1);
  return result.final!.last;
}

describe('screening before the banner, against a real DNS list server', () => {
  test('drop: a listed client gets 521 instead of a banner; no upstream session, no scan', async () => {
    const { proxy, upstreamSessions, scans, lines } = await screeningProxy({ action: 'drop' });
    try {
      const client = await SmtpTestClient.connect(proxy.port, '127.0.0.20');
      const banner = await client.read();
      assert.equal(banner.last, '521 5.7.1 Service unavailable; client [127.0.0.20] blocked using block.example');
      await client.closedByServer();
      assert.equal(upstreamSessions(), 0);
      assert.equal(scans(), 0);
      assert.ok(lines.some((line) => line.msg === 'connection refused by screening' && (line.screen as { verdict: string }).verdict === 'listed'));
    } finally {
      await proxy.stop(1000);
    }
  });

  test('enforce (the default): a listed client gets its banner and 550 at each RCPT, logged with sender and recipient; nothing reaches Postfix', async () => {
    const { proxy, upstreamSessions, scans, lines } = await screeningProxy({});
    try {
      const client = await SmtpTestClient.afterEhlo(proxy.port, 'bot.example.net', '127.0.0.21');
      assert.equal((await client.command('MAIL FROM:<bot@spam.example>')).code, 250);
      const rcpt = await client.command('RCPT TO:<alice@example.test>');
      assert.equal(rcpt.last, '550 5.7.1 Service unavailable; client [127.0.0.21] blocked using block.example');
      assert.equal((await client.command('RCPT TO:<bob@example.test>')).code, 550);
      assert.equal((await client.command('DATA')).code >= 500, true);
      await client.quit();
      assert.equal(upstreamSessions(), 0);
      assert.equal(scans(), 0);
      const refused = lines.filter((line) => line.msg === 'refused by screening');
      assert.deepEqual(refused.map((line) => line.recipient), ['alice@example.test', 'bob@example.test']);
      assert.equal(refused[0]!.client, '127.0.0.21');
    } finally {
      await proxy.stop(1000);
    }
  });

  test('ignore: a listed client is delivered and the log says it would have been refused', async () => {
    const { proxy, lines } = await screeningProxy({ action: 'ignore' });
    try {
      await deliver(proxy, '127.0.0.20');
      assert.ok(lines.some((line) => line.msg === 'client would be refused (screening.action: ignore)'));
    } finally {
      await proxy.stop(1000);
    }
  });

  test('an IPv6 client on a zone marked ipv6 is refused like an IPv4 one', async () => {
    const { proxy } = await screeningProxy({ action: 'drop' }, { listen: { host: '::1' } });
    try {
      const client = await SmtpTestClient.connect(proxy.port, '::1');
      assert.equal((await client.read()).last, '521 5.7.1 Service unavailable; client [::1] blocked using block.example');
    } finally {
      await proxy.stop(1000);
    }
  });

  test('Spamhaus\'s error answer (127.255.255.254) is no listing: delivered, logged', async () => {
    const { proxy, lines } = await screeningProxy({ action: 'drop' });
    try {
      await deliver(proxy, '127.0.0.40');
      assert.ok(lines.some((line) => line.level === 40 && /error\.test/.test(JSON.stringify(line)) && /127\.255\.255\.254/.test(JSON.stringify(line))));
    } finally {
      await proxy.stop(1000);
    }
  });

  test('a DNS server that does not answer: delivered (fail open), logged, the banner within the timeout', async () => {
    const silent = { resolver: { servers: ['127.0.0.1:9'], timeout: '500ms' }, zones };
    const { proxy, lines } = await screeningProxy({ action: 'drop', dnsLists: silent });
    try {
      const started = performance.now();
      const client = await SmtpTestClient.greeted(proxy.port, '127.0.0.20');
      const waited = performance.now() - started;
      await client.quit();
      // A generous bound: what matters is that screening gave up at its timeout, not the DNS default of seconds.
      assert.ok(waited < 2500, `banner after ${Math.round(waited)} ms`);
      await deliver(proxy, '127.0.0.20');
      assert.ok(lines.some((line) => line.level === 40 && /block\.test/.test(JSON.stringify(line))));
    } finally {
      await proxy.stop(1000);
    }
  });

  test('the access list: allow skips the DNS lists, deny is refused like a listing', async () => {
    const { proxy } = await screeningProxy({ action: 'drop', access: { allow: ['127.0.0.20'], deny: ['127.0.0.0/30'] } });
    try {
      await deliver(proxy, '127.0.0.20');
      const client = await SmtpTestClient.connect(proxy.port, '127.0.0.3');
      assert.equal((await client.read()).last, '521 5.7.1 Service unavailable; client [127.0.0.3] blocked using access list');
    } finally {
      await proxy.stop(1000);
    }
  });
});

describe('rate limits, with Postfix\'s anvil replies', () => {
  test('connections, messages and recipients per client address; an allow-listed client is exempt', async () => {
    const window = '60s';
    const { proxy } = await screeningProxy({
      rateLimits: { connections: { limit: 2, window }, messages: { limit: 1, window }, recipients: { limit: 2, window } },
    });
    try {
      const first = await SmtpTestClient.afterEhlo(proxy.port, 'client.example.net', '127.0.0.6');
      assert.equal((await first.command('MAIL FROM:<s@client.example.net>')).code, 250);
      assert.equal((await first.command('RCPT TO:<alice@example.test>')).code, 250);
      assert.equal((await first.command('RCPT TO:<bob@example.test>')).code, 250);
      assert.equal((await first.command('RCPT TO:<carol@example.test>')).last, '450 4.7.1 Error: too many recipients from 127.0.0.6');
      assert.equal((await first.command('RSET')).code, 250);
      assert.equal((await first.command('MAIL FROM:<s@client.example.net>')).last, '450 4.7.1 Error: too much mail from 127.0.0.6');
      await first.quit();
      const second = await SmtpTestClient.greeted(proxy.port, '127.0.0.6');
      await second.quit();
      const third = await SmtpTestClient.connect(proxy.port, '127.0.0.6');
      assert.equal((await third.read()).last, '421 4.7.0 Error: too many connections from 127.0.0.6');
      for (let i = 0; i < 3; i++) await deliver(proxy, '127.0.0.30');
    } finally {
      await proxy.stop(1000);
    }
  });

  test('the connection limit holds for the whole proxy across two workers', async () => {
    const proxy = await startProxyProcess({
      workers: 2,
      upstream: { port: services.postfixPort },
      screening: { rateLimits: { connections: { limit: 3, window: '60s' } } },
    });
    try {
      const banners: number[] = [];
      for (let i = 0; i < 8; i++) {
        const client = await SmtpTestClient.connect(proxy.port, '127.0.0.8');
        banners.push((await client.read()).code);
        client.close();
      }
      assert.deepEqual(banners, [220, 220, 220, 421, 421, 421, 421, 421]);
    } finally {
      assert.equal(await proxy.stop(), 0);
    }
  });
});

describe('tarpit', () => {
  test('a client with a score under the threshold waits before its banner and each reply; a clean one does not', async () => {
    const { proxy } = await screeningProxy({ dnsLists: { resolver: { servers: [dns()] }, zones, threshold: 2 }, tarpit: { delay: '1s' } });
    try {
      let started = performance.now();
      const suspicious = await SmtpTestClient.greeted(proxy.port, '127.0.0.50');
      assert.ok(performance.now() - started >= 950, 'the banner waited the tarpit delay');
      await suspicious.command('EHLO client.example.net');
      started = performance.now();
      assert.equal((await suspicious.command('MAIL FROM:<s@client.example.net>')).code, 250);
      assert.ok(performance.now() - started >= 950, 'MAIL\'s reply waited the tarpit delay');
      await suspicious.quit();
      await deliver(proxy, '127.0.0.51');
    } finally {
      await proxy.stop(1000);
    }
  });
});
