/**
 * Scanner doubles for the fault tests and the stage measurements: a factory whose scans follow
 * a given behaviour and are recorded (when each started, when its signal aborted).
 */
import { z } from 'zod';
import type { ScannerCategory, ScannerFactory } from '../../src/scan/registry.js';
import { clean, scanError, type Verdict } from '../../src/scan/verdict.js';
import type { SpooledMessage } from '../../src/spool/message.js';

export interface FakeScan {
  readonly startedAt: number;
  abortedAt?: number;
  settledAt?: number;
}

export type Behaviour = (message: SpooledMessage, signal: AbortSignal) => Promise<Verdict>;

export interface FakeFactory extends ScannerFactory {
  readonly scans: FakeScan[];
  /** Resolves with the next scan to start (or the first not yet taken); rejects after `timeout`. */
  nextScan(timeout?: number): Promise<FakeScan>;
}

export function fakeScanner(type: string, behaviour: Behaviour, category: ScannerCategory = 'content'): FakeFactory {
  const scans: FakeScan[] = [];
  const waiting: ((scan: FakeScan) => void)[] = [];
  let taken = 0;
  return {
    type,
    category,
    options: z.strictObject({}),
    scans,
    nextScan(timeout = 10_000) {
      const ready = scans[taken];
      if (ready) {
        taken++;
        return Promise.resolve(ready);
      }
      return new Promise((resolve, reject) => {
        const deliver = (scan: FakeScan) => {
          clearTimeout(timer);
          resolve(scan);
        };
        const timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(deliver), 1);
          reject(new Error(`no ${type} scan started within ${timeout} ms`));
        }, timeout);
        waiting.push(deliver);
      });
    },
    create: (_options, context) => ({
      name: context.name,
      type,
      scan(message, signal) {
        const scan: FakeScan = { startedAt: performance.now() };
        scans.push(scan);
        const waiter = waiting.shift();
        if (waiter) {
          taken++;
          waiter(scan);
        }
        signal.addEventListener('abort', () => (scan.abortedAt = performance.now()), { once: true });
        const settled = () => (scan.settledAt = performance.now());
        const result = behaviour(message, signal);
        result.then(settled, settled);
        return result;
      },
    }),
  };
}

/** Resolves with `verdict` after `ms`, or at once with a timeout error when the signal aborts. */
export function delayed(ms: number, verdict: Verdict = clean): Behaviour {
  return (_message, signal) =>
    new Promise((resolve) => {
      const timer = setTimeout(() => resolve(verdict), ms);
      signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve(scanError('timeout', 'aborted'));
        },
        { once: true },
      );
    });
}

/** Never resolves on its own; honours the abort. */
export const untilAborted: Behaviour = (_message, signal) =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve(scanError('timeout', 'aborted'));
    signal.addEventListener('abort', () => resolve(scanError('timeout', 'aborted')), { once: true });
  });
