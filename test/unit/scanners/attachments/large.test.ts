import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { scanAttachments } from '../../../../scanners/attachments/index.js';
import { bigMessage, defaultRules, fixture, scan, spooled } from './helpers.js';

const MiB = 2 ** 20;

/** Peak RSS growth while `work` runs, sampled every 2 ms (the parser yields often enough). */
async function measured<T>(work: () => Promise<T>): Promise<{ result: T; growth: number; ms: number }> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2);
  const started = performance.now();
  try {
    const result = await work();
    return { result, growth: Math.max(peak, process.memoryUsage().rss) - before, ms: performance.now() - started };
  } finally {
    clearInterval(timer);
  }
}

// Memory first, in this file's own process, before anything else has grown the heap.
describe('attachments scanner: memory stays bounded', () => {
  it('a 20 MiB base64 attachment is clean with RSS growth far below its size', async (t) => {
    const message = bigMessage(20 * MiB);
    const { result, growth, ms } = await measured(() => scan(message));
    t.diagnostic(`${(message.length / MiB).toFixed(1)} MiB in ${ms.toFixed(0)} ms, peak RSS growth ${(growth / MiB).toFixed(1)} MiB`);
    assert.deepEqual(result, { kind: 'clean' });
    assert.ok(growth < 32 * MiB, `RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
  });

  it('a 20 MiB attachment on one line (no line breaks) stays bounded too', async (t) => {
    const head = 'Subject: t\r\nContent-Type: application/pdf; name="big.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n';
    const message = Buffer.alloc(head.length + 20 * MiB, 'QUJD');
    message.write(head);
    const { result, growth, ms } = await measured(() => scan(message));
    t.diagnostic(`one line: ${ms.toFixed(0)} ms, peak RSS growth ${(growth / MiB).toFixed(1)} MiB`);
    assert.deepEqual(result, { kind: 'clean' });
    assert.ok(growth < 32 * MiB, `RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
  });

  it('an attached message of 20 MiB is decoded as it streams, not kept', async (t) => {
    const inner = bigMessage(14 * MiB).toString('base64').replace(/.{76}/g, '$&\r\n');
    const framed = Buffer.from(
      `Subject: t\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n` +
        `Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n${inner}\r\n--b--\r\n`,
    );
    const { result, growth, ms } = await measured(() => scan(framed));
    t.diagnostic(`${(framed.length / MiB).toFixed(1)} MiB holding a nested message: ${ms.toFixed(0)} ms, peak RSS growth ${(growth / MiB).toFixed(1)} MiB`);
    assert.deepEqual(result, { kind: 'clean' });
    assert.ok(growth < 48 * MiB, `RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
  });
});

describe('attachments scanner: abort', () => {
  it('an abort mid-parse settles at once and destroys the reader', async (t) => {
    const message = spooled(bigMessage(20 * MiB));
    const controller = new AbortController();
    const scanning = scanAttachments(message, controller.signal, defaultRules);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const aborted = performance.now();
    controller.abort(new Error('deadline'));
    const verdict = await scanning;
    const ms = performance.now() - aborted;
    t.diagnostic(`settled ${ms.toFixed(1)} ms after the abort`);
    assert.deepEqual(verdict, { kind: 'error', error: 'timeout', detail: 'aborted' });
    assert.ok(ms < 100, `took ${ms} ms`);
    assert.equal(message.streams.length, 1);
    assert.equal(message.streams[0]?.destroyed, true);
  });

  it('an abort inside an attached message settles at once too', async () => {
    const inner = bigMessage(6 * MiB).toString('base64').replace(/.{76}/g, '$&\r\n');
    const outer = Buffer.from(`Subject: t\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n${inner}\r\n`);
    const message = spooled(outer);
    const controller = new AbortController();
    const scanning = scanAttachments(message, controller.signal, defaultRules);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const aborted = performance.now();
    controller.abort();
    assert.deepEqual(await scanning, { kind: 'error', error: 'timeout', detail: 'aborted' });
    assert.ok(performance.now() - aborted < 100);
    assert.equal(message.streams[0]?.destroyed, true);
  });

  it('an abort before the scan opens no reader', async () => {
    const message = spooled(await fixture('exe'));
    const verdict = await scanAttachments(message, AbortSignal.abort(), defaultRules);
    assert.deepEqual(verdict, { kind: 'error', error: 'timeout', detail: 'aborted before the scan started' });
    assert.equal(message.streams.length, 0);
  });
});
