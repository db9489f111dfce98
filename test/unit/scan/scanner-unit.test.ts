import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import type { ScannerConfig } from '../../../src/config/load.js';
import { ScannerUnit } from '../../../src/scan/scanner-unit.js';
import type { Scanner } from '../../../src/scan/scanner.js';
import { clean } from '../../../src/scan/verdict.js';
import type { SpooledMessage } from '../../../src/spool/message.js';
import { scanSession } from '../../helpers/scan-session.js';

const settings = (extra: Partial<ScannerConfig> = {}): ScannerConfig => ({
  name: 'unit',
  type: 'unit',
  category: 'content',
  concurrency: 1,
  maxQueue: 10,
  timeout: 300,
  onError: 'tempfail',
  mode: 'enforce',
  maxSize: 0,
  onOversize: 'skip',
  rejectScore: 10,
  tagScore: 5,
  options: {},
  ...extra,
});

const cleanScanner: Scanner = { name: 'unit', type: 'unit', scan: async () => clean };

/** A message whose reads fail, or never deliver a byte. */
function brokenMessage(size: number, how: 'error' | 'stall'): SpooledMessage {
  return {
    size,
    createReadStream: () =>
      how === 'error'
        ? new Readable({ read() { this.destroy(new Error('disk gone')); } })
        : new Readable({ read() { /* never */ } }),
  };
}

describe('ScannerUnit', () => {
  test('truncating a message whose spool read fails gives an error verdict, not a rejection (regression)', async () => {
    const unit = new ScannerUnit(cleanScanner, settings({ maxSize: 10, onOversize: 'truncate' }));
    const result = await unit.scan(brokenMessage(100, 'error'), new AbortController().signal, scanSession());
    assert.equal(result.verdict.kind, 'error');
  });

  test('truncating a message whose spool read stalls is bounded by the scanner timeout (regression)', async () => {
    const unit = new ScannerUnit(cleanScanner, settings({ maxSize: 10, onOversize: 'truncate', timeout: 200 }));
    const started = performance.now();
    const result = await unit.scan(brokenMessage(100, 'stall'), new AbortController().signal, scanSession());
    assert.deepEqual(result.verdict.kind === 'error' && result.verdict.error, 'timeout');
    assert.ok(performance.now() - started < 2000);
  });

  test('maxQueue 0 runs a scan when a slot is free (regression)', async () => {
    const unit = new ScannerUnit(cleanScanner, settings({ maxQueue: 0 }));
    const result = await unit.scan({ size: 0, createReadStream: () => Readable.from([]) }, new AbortController().signal, scanSession());
    assert.equal(result.verdict.kind, 'clean');
  });
});
