import { scanError, type Verdict } from '../../src/scan/verdict.js';

/** A scan cut off by its signal (its deadline, or the client gone): a timeout, with the reason. */
export function abortedScan(engine: string, signal: AbortSignal): Verdict {
  const reason: unknown = signal.reason;
  return scanError('timeout', `${engine} scan aborted: ${reason instanceof Error ? reason.message : String(reason)}`);
}
