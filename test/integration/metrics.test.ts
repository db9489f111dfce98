import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { delta, scrape } from '../helpers/scrape.js';
import { services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { freePort } from '../helpers/sink.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { fixture, scanningConfig } from '../scenarios/scanning-scenarios.js';

const OUTCOMES = ['relayed', 'virus', 'spam', 'banned', 'size', 'bare-lf', 'scanner-tempfail', 'upstream-4xx', 'upstream-5xx', 'rejected-other', 'failed'];

async function send(port: number, message: Buffer): Promise<{ code: number; last: string; tag: string }> {
  const { address, tag } = taggedAddress();
  const client = await SmtpTestClient.afterEhlo(port);
  const result = await client.send('alice@sender.example', [address], message);
  await client.quit();
  return { code: result.final!.code, last: result.final!.last, tag };
}

async function probe(port: number, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, body: await response.text() };
}

describe('metrics of one process: the counters for a known sequence (clean, virus, spam, scanner down)', () => {
  let proxy: TestProxy;
  let down: TestProxy;
  let metricsPort: number;

  before(async () => {
    const clamd = { host: '127.0.0.1', port: services.clamdPort };
    const spamd = { host: '127.0.0.1', port: services.spamdPort };
    proxy = await startTestProxy({ upstream: { port: services.postfixPort }, scanners: scanningConfig(clamd, spamd), metrics: { port: 0 } });
    metricsPort = proxy.metricsAddress!.port;
    // clamd's port with nothing listening: every scan fails, and onError (tempfail) answers 451.
    const closed = await freePort();
    down = await startTestProxy({
      upstream: { port: services.postfixPort },
      scanners: [{ type: 'clamav', name: 'clamav-down', host: '127.0.0.1', port: closed, onError: 'tempfail' }],
      metrics: { port: 0 },
    });
  });
  after(async () => {
    await proxy?.stop(1000);
    await down?.stop(1000);
  });

  test('messages by outcome, scans per scanner, scanner errors by kind and upstream replies move by exactly what was sent', async () => {
    const before = await scrape(metricsPort);
    const clean = await send(proxy.port, fixture('clean.eml'));
    assert.equal(clean.code, 250, clean.last);
    assert.equal((await send(proxy.port, fixture('eicar-attachment.eml'))).code, 554);
    assert.equal((await send(proxy.port, fixture('gtube.eml'))).code, 550);
    const tempfail = await send(down.port, fixture('clean.eml'));
    assert.equal(tempfail.code, 451, tempfail.last);
    await waitForDelivery('alice', clean.tag);
    const after = await scrape(metricsPort);

    const expected: Record<string, number> = { relayed: 1, virus: 1, spam: 1, 'scanner-tempfail': 1 };
    for (const outcome of OUTCOMES) {
      assert.equal(delta(before, after, 'smtp_scan_proxy_messages_total', { outcome }), expected[outcome] ?? 0, `messages_total{outcome="${outcome}"}`);
    }
    // Both proxies run in this process and publish to the same channels: the scrape is the process's.
    assert.equal(delta(before, after, 'smtp_scan_proxy_connections_accepted_total'), 4);
    assert.equal(delta(before, after, 'smtp_scan_proxy_scan_seconds_count', { scanner: 'clamav' }), 3);
    assert.equal(delta(before, after, 'smtp_scan_proxy_scan_seconds_count', { scanner: 'clamav', outcome: 'clean' }), 2);
    assert.equal(delta(before, after, 'smtp_scan_proxy_scan_seconds_count', { scanner: 'clamav', outcome: 'infected' }), 1);
    assert.equal(delta(before, after, 'smtp_scan_proxy_scan_seconds_count', { scanner: 'spamassassin' }), 3);
    assert.equal(delta(before, after, 'smtp_scan_proxy_scan_seconds_count', { scanner: 'spamassassin', outcome: 'scored' }) >= 2, true);
    assert.ok(delta(before, after, 'smtp_scan_proxy_scan_seconds_sum', { scanner: 'spamassassin' }) > 0, 'scan time summed');
    assert.equal(delta(before, after, 'smtp_scan_proxy_scanner_queue_wait_seconds_count', { scanner: 'clamav' }), 3);
    assert.equal(delta(before, after, 'smtp_scan_proxy_scanner_errors_total', { scanner: 'clamav-down', kind: 'unavailable' }), 1);
    assert.equal(delta(before, after, 'smtp_scan_proxy_scanner_errors_total', { scanner: 'clamav' }), 0);
    assert.equal(delta(before, after, 'smtp_scan_proxy_upstream_replies_total', { command: 'BDAT', class: '2xx' }), 1);
    assert.ok(delta(before, after, 'smtp_scan_proxy_upstream_replies_total', { command: 'MAIL', class: '2xx' }) >= 4);
    assert.equal(after.value('smtp_scan_proxy_spool_bytes', { where: 'memory' }), 0, 'every message released');
    assert.equal(after.value('smtp_scan_proxy_scanner_queue_waiting', { scanner: 'clamav' }), 0);
    assert.match(after.text, /^smtp_scan_proxy_process_resident_memory_bytes \d+/m);
  });

  test('/healthz answers 200; /readyz 200 when the upstream and scanners answer, 503 naming the scanner that does not', async () => {
    assert.deepEqual(await probe(metricsPort, '/healthz'), { status: 200, body: 'ok\n' });
    assert.deepEqual(await probe(metricsPort, '/readyz'), { status: 200, body: 'ready\n' });
    const notReady = await probe(down.metricsAddress!.port, '/readyz');
    assert.equal(notReady.status, 503);
    assert.match(notReady.body, /^not ready\nscanner clamav-down: .*ECONNREFUSED/m);
    assert.doesNotMatch(notReady.body, /upstream/);
    assert.equal((await probe(metricsPort, '/other')).status, 404);
  });
});

describe('metrics of one process: screening refusals and message bytes in spool files', () => {
  let proxy: TestProxy;
  let metricsPort: number;

  before(async () => {
    proxy = await startTestProxy({
      upstream: { port: services.postfixPort },
      screening: { action: 'drop', access: { deny: ['127.0.0.3/32'] } },
      spool: { memoryPerMessage: 1024 },
      metrics: { port: 0 },
    });
    metricsPort = proxy.metricsAddress!.port;
  });
  after(() => proxy?.stop(1000));

  test('a denied client is counted as refused by screening, with the verdict', async () => {
    const before = await scrape(metricsPort);
    const client = await SmtpTestClient.connect(proxy.port, '127.0.0.3');
    assert.equal((await client.read()).code, 521);
    client.close();
    const allowed = await SmtpTestClient.greeted(proxy.port, '127.0.0.4');
    await allowed.quit();
    const after = await scrape(metricsPort);
    assert.equal(delta(before, after, 'smtp_scan_proxy_connections_refused_total', { reason: 'screening' }), 1);
    assert.equal(delta(before, after, 'smtp_scan_proxy_screening_total', { verdict: 'denied' }), 1);
    assert.equal(delta(before, after, 'smtp_scan_proxy_screening_total', { verdict: 'pass' }), 1);
    assert.equal(delta(before, after, 'smtp_scan_proxy_connections_accepted_total'), 2);
  });

  test('a message over memoryPerMessage shows in spool_bytes{where="disk"} while it arrives, and leaves it at 0', async () => {
    const { address } = taggedAddress();
    const client = await SmtpTestClient.afterEhlo(proxy.port);
    assert.equal((await client.command('MAIL FROM:<alice@sender.example>')).code, 250);
    assert.equal((await client.command(`RCPT TO:<${address}>`)).code, 250);
    assert.equal((await client.command('DATA')).code, 354);
    const head = `Subject: spooled\r\n\r\n${'a line of a message that goes to a spool file\r\n'.repeat(100)}`;
    client.write(head);
    // The receiver holds back the last few bytes until it knows they are not the end of data.
    let onDisk = 0;
    for (let tries = 0; onDisk <= 1024 && tries < 200; tries++) {
      onDisk = (await scrape(metricsPort)).value('smtp_scan_proxy_spool_bytes', { where: 'disk' });
      if (onDisk <= 1024) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.ok(onDisk > 1024 && onDisk <= Buffer.byteLength(head), `${onDisk} bytes on disk`);
    client.write('.\r\n');
    assert.equal((await client.read()).code, 250);
    await client.quit();
    const after = await scrape(metricsPort);
    assert.equal(after.value('smtp_scan_proxy_spool_bytes', { where: 'disk' }), 0);
    assert.equal(after.value('smtp_scan_proxy_spool_bytes', { where: 'memory' }), 0);
  });
});

describe('metrics with workers: 2: one scrape of the primary adds up both workers', () => {
  let proxy: ProxyProcess;
  let metricsPort: number;

  before(async () => {
    proxy = await startProxyProcess({ workers: 2, upstream: { port: services.postfixPort }, metrics: { port: 0 } });
    const logged = proxy.logs.find((entry) => entry.msg === 'metrics listening') as { metrics: { port: number } } | undefined;
    assert.ok(logged, 'the primary logs its metrics listener');
    metricsPort = logged.metrics.port;
    // Both workers listening: the round robin then hands connections to each in turn.
    const deadline = Date.now() + 20_000;
    while (proxy.logs.filter((entry) => entry.msg === 'smtp-scan-proxy listening').length < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
  after(() => proxy?.stop());

  test('connections and messages from both workers are summed', async () => {
    const sent = 8;
    for (let i = 0; i < sent; i++) {
      const { code } = await send(proxy.port, fixture('clean.eml'));
      assert.equal(code, 250);
    }
    // Each worker logged some of the messages (the session lines carry the worker's pid).
    const servedBy = new Set(proxy.logs.filter((entry) => entry.cid !== undefined).map((entry) => entry.pid));
    assert.equal(servedBy.size, 2, 'both workers served connections');
    const totals = await scrape(metricsPort);
    assert.equal(totals.value('smtp_scan_proxy_connections_accepted_total'), sent);
    assert.equal(totals.value('smtp_scan_proxy_messages_total', { outcome: 'relayed' }), sent);
    assert.equal(totals.value('smtp_scan_proxy_upstream_replies_total', { command: 'BDAT', class: '2xx' }), sent);
    assert.equal(await fetch(`http://127.0.0.1:${metricsPort}/readyz`).then((response) => response.status), 200);
  });
});
