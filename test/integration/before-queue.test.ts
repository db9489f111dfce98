import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { capturedLogger } from '../helpers/captured-logger.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { nothingDelivered, services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { fixture, scanningConfig } from '../scenarios/scanning-scenarios.js';

/**
 * Postfix's before-queue content filter layout (SMTPD_PROXY_README) with real Postfix on both
 * sides: clients talk to Postfix's smtpd (postfixBeforeQueuePort), which hands each transaction
 * to the proxy (smtpd_proxy_filter, proxyFilterPort) with XFORWARD naming the client; the proxy
 * relays to the after-filter smtpd (postfixAfterFilterPort) with XFORWARD again. What a client
 * hears at the end of DATA is the proxy's reply, through Postfix.
 */
const master = () => readFile(path.resolve(import.meta.dirname, '../../scripts/templates/postfix-master.cf'), 'utf8');

/** The smtpd_proxy_timeout the test Postfix runs with, as the admin states it to the proxy. */
async function smtpdProxyTimeout(): Promise<string> {
  const value = /-o smtpd_proxy_timeout=(\d+s)\b/.exec(await master())?.[1];
  assert.ok(value, 'the template sets smtpd_proxy_timeout');
  return value;
}

async function startFilter(scanners: Record<string, unknown>[], logger = capturedLogger().logger): Promise<TestProxy> {
  return startTestProxy(
    {
      listen: { port: services.proxyFilterPort, xforward: { trusted: ['127.0.0.1'], smtpdProxyTimeout: await smtpdProxyTimeout() } },
      upstream: { port: services.postfixAfterFilterPort, xclient: false, connectTimeout: '10s', commandTimeout: '10s', dataTimeout: '30s' },
      limits: { scanDeadline: '40s' },
      scanners,
    },
    { logger },
  );
}

/** One message through the front smtpd from `from` with HELO `helo`; every reply the client got. */
async function sendThroughPostfix(from: string, helo: string, message: Buffer, to: string) {
  const client = await SmtpTestClient.afterEhlo(services.postfixBeforeQueuePort, helo, from);
  const result = await client.send('alice@sender.example', [to], message);
  await client.quit();
  return result;
}

const scanners = () => scanningConfig({ host: '127.0.0.1', port: services.clamdPort }, { host: '127.0.0.1', port: services.spamdPort });

describe('Postfix before-queue filter: Postfix smtpd -> proxy -> Postfix smtpd', () => {
  let proxy: TestProxy;
  const captured = capturedLogger();
  before(async () => {
    proxy = await startFilter(scanners(), captured.logger);
  });
  after(() => proxy?.stop(1000));

  test('a clean message is delivered, with the original client in Postfix\'s Received header and log', async () => {
    const { address, tag } = taggedAddress();
    const result = await sendThroughPostfix('127.0.0.2', 'client-2.example.net', fixture('clean.eml'), address);
    assert.equal(result.final?.code, 250, result.final?.last);
    const queueId = /queued as (\w+)/.exec(result.final!.last)?.[1];
    assert.ok(queueId, result.final!.last);
    const [delivered, ...more] = await waitForDelivery('alice', tag);
    assert.ok(delivered, 'delivered');
    assert.equal(more.length, 0, 'delivered once');
    const received = delivered.split('\n\n')[0]!.replace(/\n[ \t]+/g, ' ').split('\n').filter((line) => line.startsWith('Received: '));
    // Newest first: the after-filter smtpd (from the proxy), then the front smtpd (from the client).
    assert.match(received[0]!, /^Received: from proxy\.example\.test \(localhost \[127\.0\.0\.1\]\) by mx\.example\.test \(Postfix\) with ESMTPS? id /);
    assert.match(received[1]!, /^Received: from client-2\.example\.net \(unknown \[127\.0\.0\.2\]\) by mx\.example\.test \(Postfix\) with ESMTP/);
    assert.match(delivered, /^X-Virus-Scanned: clamav clean/m, 'scanned by the proxy');
    // The after-filter smtpd took the proxy's XFORWARD: its log names the client.
    const log = await readFile(services.postfixLog, 'utf8');
    assert.match(log, new RegExp(`${queueId}: client=localhost\\[127\\.0\\.0\\.1\\], orig_client=unknown\\[127\\.0\\.0\\.2\\]`));
    // And the proxy treated the forwarded client as its client.
    const relayed = captured.lines.find((line) => line.msg === 'message relayed' && String(line.queueId) === queueId);
    assert.ok(relayed, 'the proxy logged the message');
    assert.equal(relayed.client, '127.0.0.2');
    assert.equal(relayed.peer, '127.0.0.1');
  });

  test('each transaction names its own client, one after another on Postfix\'s filter connections', async () => {
    for (const from of ['127.0.0.3', '127.0.0.4', '127.0.0.3']) {
      const { address, tag } = taggedAddress();
      const result = await sendThroughPostfix(from, `host-${from.replaceAll('.', '-')}.example.net`, fixture('clean.eml'), address);
      assert.equal(result.final?.code, 250, result.final?.last);
      const queueId = /queued as (\w+)/.exec(result.final!.last)![1]!;
      assert.ok((await waitForDelivery('alice', tag))[0], `delivered from ${from}`);
      const log = await readFile(services.postfixLog, 'utf8');
      assert.match(log, new RegExp(`${queueId}: client=localhost\\[127\\.0\\.0\\.1\\], orig_client=unknown\\[${from.replaceAll('.', '\\.')}\\]`));
    }
  });

  test('GTUBE reaches the sending client as the proxy\'s 550 through Postfix, and nothing is delivered', async () => {
    const { address, tag } = taggedAddress();
    const result = await sendThroughPostfix('127.0.0.2', 'client-2.example.net', fixture('gtube.eml'), address);
    assert.equal(result.final?.code, 550, result.final?.last);
    assert.match(result.final!.last, /^550 5\.7\.1 Message rejected as spam \(score \d{3,4}\.\d, limit 10\.0\)$/);
    assert.ok(await nothingDelivered('alice', tag));
  });

  test('EICAR reaches the sending client as the proxy\'s 554 through Postfix, and nothing is delivered', async () => {
    const { address, tag } = taggedAddress();
    const result = await sendThroughPostfix('127.0.0.2', 'client-2.example.net', fixture('eicar-attachment.eml'), address);
    assert.equal(result.final?.code, 554, result.final?.last);
    assert.match(result.final!.last, /^554 5\.7\.1 Message rejected: virus found: Eicar-Test-Signature/);
    assert.ok(await nothingDelivered('alice', tag));
  });
});

describe('Postfix before-queue filter with a scanner down', () => {
  test('the client gets the proxy\'s 451 through Postfix, and nothing is delivered', async () => {
    // A port nobody listens on: clamd is "down".
    const proxy = await startFilter([{ type: 'clamav', host: '127.0.0.1', port: 9, timeout: '5s' }]);
    try {
      const { address, tag } = taggedAddress();
      const result = await sendThroughPostfix('127.0.0.2', 'client-2.example.net', fixture('clean.eml'), address);
      assert.equal(result.final?.code, 451, result.final?.last);
      assert.match(result.final!.last, /^451 4\.7\.1 Message could not be scanned, please try again later$/);
      assert.ok(await nothingDelivered('alice', tag));
    } finally {
      await proxy.stop(1000);
    }
  });
});

describe('Postfix before-queue filter with the proxy left at upstream.xclient: true', () => {
  test('the second smtpd offers no XCLIENT: fail closed, the client hears 451 through Postfix, nothing delivered', async () => {
    const proxy = await startTestProxy({
      listen: { port: services.proxyFilterPort, xforward: { trusted: ['127.0.0.1'] } },
      upstream: { port: services.postfixAfterFilterPort },
    });
    try {
      const { address, tag } = taggedAddress();
      const result = await sendThroughPostfix('127.0.0.2', 'client-2.example.net', fixture('clean.eml'), address);
      const refusal = [result.mail, ...result.rcpts, result.data, result.final].find((reply) => reply && reply.code !== 250 && reply.code !== 354);
      assert.match(refusal?.last ?? '(none)', /^451 4\.3\.5 Mail service configuration error, please try again later$/);
      assert.ok(await nothingDelivered('alice', tag));
    } finally {
      await proxy.stop(1000);
    }
  });
});

describe('Postfix before-queue filter with screening', () => {
  // 127.0.0.1 is Postfix, the trusted peer: denied too, to show it is not screened itself.
  const screening = (action: string) => ({ action, access: { deny: ['127.0.0.1', '127.0.0.3'] } });

  for (const action of ['enforce', 'drop']) {
    test(`action ${action}: the client XFORWARD names is screened, not the peer; a denied one is refused through Postfix`, async () => {
      const captured = capturedLogger();
      const proxy = await startTestProxy(
        {
          listen: { port: services.proxyFilterPort, xforward: { trusted: ['127.0.0.1'] } },
          upstream: { port: services.postfixAfterFilterPort, xclient: false },
          screening: screening(action),
        },
        { logger: captured.logger },
      );
      try {
        const passed = taggedAddress();
        const ok = await sendThroughPostfix('127.0.0.2', 'client-2.example.net', fixture('clean.eml'), passed.address);
        assert.equal(ok.final?.code, 250, ok.final?.last);
        assert.ok((await waitForDelivery('alice', passed.tag))[0], 'the client not denied is delivered');

        const denied = taggedAddress();
        const result = await sendThroughPostfix('127.0.0.3', 'client-3.example.net', fixture('clean.eml'), denied.address);
        const refusal = [result.mail, ...result.rcpts, result.data, result.final].find((reply) => reply && reply.code >= 400);
        assert.match(refusal?.last ?? '(none)', /^5\d\d 5\.7\.1 Service unavailable; client \[127\.0\.0\.3\] blocked using access list$/);
        assert.ok(await nothingDelivered('alice', denied.tag));
        const logged = captured.lines.find((line) => line.msg === 'refused by screening');
        assert.equal(logged?.client, '127.0.0.3');
        assert.equal(logged?.peer, '127.0.0.1');
      } finally {
        await proxy.stop(1000);
      }
    });
  }
});
