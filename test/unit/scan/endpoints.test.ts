import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { createMetrics } from '../../../src/metrics/registry.js';
import { ScannerEndpoints } from '../../../src/scan/endpoints.js';
import type { Scanner } from '../../../src/scan/scanner.js';
import { clean, scanError, type Verdict } from '../../../src/scan/verdict.js';
import { capturedLogger } from '../../helpers/captured-logger.js';

/** An engine whose answer and ping the test sets; it counts the scans it got. */
class Engine implements Scanner {
  readonly type = 'fake';
  scans = 0;
  answer: Verdict = clean;
  alive = true;
  constructor(readonly name: string) {}
  async scan(): Promise<Verdict> {
    this.scans++;
    await sleep(5);
    return this.answer;
  }
  async ping(): Promise<void> {
    if (!this.alive) throw new Error('no PONG');
  }
}

function endpoints(count: number, pingInterval = 20) {
  const engines = Array.from({ length: count }, (_, index) => new Engine(`e${index}`));
  const { logger, lines } = capturedLogger();
  const set = new ScannerEndpoints(engines, engines.map((engine) => engine.name), 100, logger, pingInterval);
  const run = (signal = new AbortController().signal) => set.run((scanner) => (scanner as Engine).scan(), signal);
  return { engines, set, run, lines };
}

describe('ScannerEndpoints', () => {
  test('scans at once spread over the endpoints', async () => {
    const { engines, run, set } = endpoints(2);
    await Promise.all(Array.from({ length: 10 }, () => run()));
    assert.deepEqual(engines.map((engine) => engine.scans), [5, 5]);
    await set.close();
  });

  test('an endpoint that errs is retried on the other inside the same scan, then skipped until it answers a ping', async (t) => {
    const metrics = createMetrics({ defaults: false });
    t.after(() => metrics.close());
    const up = async () => (await metrics.registry.getSingleMetricAsString('smtp_scan_proxy_scanner_endpoint_up')).split('\n').filter((line) => !line.startsWith('#')).sort();
    const { engines, run, set, lines } = endpoints(2);
    engines[0]!.answer = scanError('unavailable', 'clamd at e0: ECONNREFUSED');
    engines[0]!.alive = false;
    const verdicts = [];
    for (let i = 0; i < 6; i++) verdicts.push(await run());
    assert.deepEqual(verdicts, Array(6).fill(clean), 'no scan failed while the other endpoint answered');
    assert.equal(engines[0]!.scans, 1, 'tried once, then skipped');
    assert.ok(lines.some((line) => /scanner endpoint e0 failed; scan retried on another; skipped until it answers a ping/.test(String(line.msg))));
    assert.deepEqual(set.states.map((state) => state.healthy), [false, true]);
    assert.deepEqual(await up(), ['smtp_scan_proxy_scanner_endpoint_up{scanner="e0",endpoint="e0"} 0', 'smtp_scan_proxy_scanner_endpoint_up{scanner="e1",endpoint="e1"} 1']);

    engines[0]!.answer = clean;
    engines[0]!.alive = true;
    await sleep(60);
    assert.deepEqual(set.states.map((state) => state.healthy), [true, true]);
    assert.match((await up())[0]!, /endpoint="e0"} 1$/);
    assert.ok(lines.some((line) => /scanner endpoint e0 answers again/.test(String(line.msg))));
    await Promise.all(Array.from({ length: 4 }, () => run()));
    assert.ok(engines[0]!.scans >= 2, 'traffic returns to it');
    await set.close();
  });

  test('every endpoint failing gives the last error; all down are still tried rather than failing unasked', async () => {
    const { engines, run, set } = endpoints(2, 60_000);
    for (const engine of engines) engine.answer = scanError('timeout', 'no verdict within 100 ms');
    assert.deepEqual(await run(), scanError('timeout', 'no verdict within 100 ms'));
    assert.deepEqual(engines.map((engine) => engine.scans), [1, 1]);
    engines[1]!.answer = clean;
    assert.deepEqual(await run(), clean);
    await set.close();
  });

  test('no retry for a message too large, for a stage that gave up, or with one endpoint', async () => {
    const big = endpoints(2);
    big.engines[0]!.answer = scanError('too-large', 'over StreamMaxLength');
    big.engines[1]!.answer = scanError('too-large', 'over StreamMaxLength');
    await big.run();
    assert.equal(big.engines[0]!.scans + big.engines[1]!.scans, 1);
    assert.deepEqual(big.set.states.map((state) => state.healthy), [true, true]);

    const stopped = endpoints(2);
    for (const engine of stopped.engines) engine.answer = scanError('timeout', 'scan aborted');
    const controller = new AbortController();
    controller.abort();
    await stopped.run(controller.signal);
    assert.equal(stopped.engines[0]!.scans + stopped.engines[1]!.scans, 1);

    const single = endpoints(1);
    single.engines[0]!.answer = scanError('unavailable', 'down');
    assert.equal((await single.run()).kind, 'error');
    assert.deepEqual(single.set.states, [{ label: 'e0', healthy: true }]);
    await Promise.all([big.set.close(), stopped.set.close(), single.set.close()]);
  });
});
