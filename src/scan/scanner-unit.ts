import PQueue from 'p-queue';
import type { Logger } from 'pino';
import type { ScannerConfig } from '../config/load.js';
import { events } from '../observe/events.js';
import type { SpooledMessage } from '../spool/message.js';
import { truncatedView } from '../spool/truncated-view.js';
import { endpointLabel, ScannerEndpoints } from './endpoints.js';
import type { ScanResult } from './scan-result.js';
import type { ScanSession } from './scan-session.js';
import type { Scanner } from './scanner.js';
import { scanError, type Verdict } from './verdict.js';

/**
 * One configured scanner with its own queue: at most `concurrency` scans at once, at most
 * `maxQueue` waiting for a slot (one more is an error verdict at once, not a pile-up), each scan bounded by
 * `timeout`. Whatever happens, scan() resolves with a result: a thrown exception or a hung
 * engine becomes an error verdict (fail closed), never a pass.
 */
export class ScannerUnit {
  private readonly queue: PQueue;
  /** Where each scan goes: one endpoint, or the healthy one of several (`servers:`). */
  readonly endpoints: ScannerEndpoints;

  constructor(
    scanners: Scanner | readonly Scanner[],
    readonly settings: ScannerConfig,
    logger?: Logger,
  ) {
    const labels = (settings.servers ?? [settings.options]).map(endpointLabel);
    this.endpoints = new ScannerEndpoints([scanners].flat(), labels, Math.min(settings.timeout, 5000), logger);
    this.queue = new PQueue({ concurrency: settings.concurrency });
    const publishLoad = () => events.scannerQueue.publish({ scanner: settings.name, ...this.load });
    for (const change of ['add', 'active', 'next'] as const) this.queue.on(change, publishLoad);
  }

  /** Jobs running and waiting (for metrics and tests). */
  get load(): { running: number; waiting: number } {
    return { running: this.queue.pending, waiting: this.queue.size };
  }

  async scan(message: SpooledMessage, signal: AbortSignal, session: ScanSession): Promise<ScanResult> {
    const started = performance.now();
    const { name, type } = this.settings;
    let queueWaitSeconds: number | undefined;
    const result = (verdict: ScanResult['verdict'], scannedBytes?: number): ScanResult => {
      const seconds = (performance.now() - started) / 1000;
      // Stopped because the message was decided (or its client left): not the engine's fault.
      const aborted = verdict.kind === 'error' && signal.aborted;
      const errorKind = verdict.kind === 'error' && !aborted ? { errorKind: verdict.error } : {};
      const waited = queueWaitSeconds === undefined ? {} : { queueWaitSeconds };
      events.scan.publish({ scanner: name, seconds, outcome: aborted ? 'aborted' : verdict.kind, ...errorKind, ...waited });
      return resultOf(verdict, scannedBytes);
    };
    const resultOf = (verdict: ScanResult['verdict'], scannedBytes?: number): ScanResult => ({
      name,
      type,
      verdict,
      ms: Math.round(performance.now() - started),
      messageBytes: message.size,
      ...(scannedBytes === undefined ? {} : { scannedBytes }),
    });

    const { maxSize, onOversize, concurrency, maxQueue } = this.settings;
    const oversize = maxSize > 0 && message.size > maxSize;
    if (oversize && onOversize === 'skip') return result({ kind: 'skipped', reason: 'oversize' });
    if (oversize && onOversize === 'tempfail') return result(scanError('too-large', `message of ${message.size} bytes over maxSize ${maxSize}`));
    if (this.queue.pending >= concurrency && this.queue.size >= maxQueue) {
      return result(scanError('unavailable', `queue full (${this.queue.size} waiting)`));
    }
    let scannedBytes: number | undefined;
    // The truncated view is made inside the bounded job: reading the spool counts against
    // the scanner's timeout and fails into a verdict like the scan itself.
    const verdict = await this.queue
      .add(
        () => {
          queueWaitSeconds = (performance.now() - started) / 1000;
          // Each attempt (another endpoint after a failed one) has the whole timeout; the stage's deadline bounds them all.
          return this.endpoints.run((scanner) => this.bounded(async (scanSignal) => {
            const view = oversize ? await truncatedView(message, maxSize) : message;
            if (view !== message) scannedBytes = view.size;
            return scanner.scan(view, scanSignal, session);
          }, signal), signal);
        },
        { signal },
      )
      .catch((error: unknown) => scanError('timeout', `aborted while waiting: ${(error as Error).message}`));
    return result(verdict ?? scanError('protocol', 'no verdict'), scannedBytes);
  }

  /** Releases every endpoint's long-lived resources at shutdown. Never throws. */
  close(): Promise<void> {
    return this.endpoints.close();
  }

  /**
   * The scan raced against its timeout and the stage's signal; the first to settle wins. The
   * scanner's own signal aborts in both cases, so it lets go of its socket.
   */
  private async bounded(scan: (signal: AbortSignal) => Promise<Verdict>, stage: AbortSignal): Promise<Verdict> {
    const controller = new AbortController();
    let settle!: (verdict: Verdict) => void;
    const stopped = new Promise<Verdict>((resolve) => (settle = resolve));
    const stop = (detail: string) => {
      settle(scanError('timeout', detail));
      controller.abort();
    };
    const timer = setTimeout(() => stop(`no verdict within ${this.settings.timeout} ms`), this.settings.timeout);
    const onStageAbort = () => stop('scan aborted');
    if (stage.aborted) onStageAbort();
    else stage.addEventListener('abort', onStageAbort, { once: true });
    const scanned = Promise.resolve()
      .then(() => scan(controller.signal))
      .catch((error: unknown) => scanError('protocol', `scanner failed: ${(error as Error)?.message ?? String(error)}`));
    try {
      return await Promise.race([scanned, stopped]);
    } finally {
      clearTimeout(timer);
      stage.removeEventListener('abort', onStageAbort);
    }
  }
}
