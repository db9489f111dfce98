import type { z } from 'zod';
import type { Logger } from 'pino';
import type { Scanner } from './scanner.js';

/**
 * Settings every scanner entry has, whatever its type; the fan-out and the policy read them.
 * An adapter may change their defaults (spamassassin truncates oversize messages, say).
 */
export interface CommonScannerSettings {
  /** Jobs this scanner runs at once (its p-queue's concurrency). */
  concurrency: number;
  /** Jobs allowed to wait for a slot; one more is a tempfail, not a pile-up. */
  maxQueue: number;
  /** Milliseconds one scan may take. */
  timeout: number;
  onError: 'tempfail' | 'accept';
  /** Bytes; larger messages get onOversize. 0 means no limit. */
  maxSize: number;
  onOversize: 'skip' | 'truncate' | 'tempfail';
}

export type ScannerCategory = 'antivirus' | 'antispam' | 'content';

export interface ScannerContext {
  readonly name: string;
  readonly logger: Logger;
}

/**
 * What a scanner module exports to be usable from the config: its type name, a zod object
 * schema of its own keys (strict; the common keys are added by the config loader), and a
 * factory.
 */
export interface ScannerFactory<Options extends Record<string, unknown> = Record<string, unknown>> {
  readonly type: string;
  /**
   * Which verdict headers the scanner's outcome goes into: antivirus and content scanners are
   * listed in X-Virus-Scanned, an antispam engine fills X-Spam-*. Plugins default to content.
   */
  readonly category?: ScannerCategory;
  readonly options: z.ZodObject<z.ZodRawShape>;
  /** Defaults of the common keys for this type; scoring engines may set their own thresholds. */
  readonly defaults?: Partial<CommonScannerSettings & { rejectScore: number; tagScore: number }>;
  create(options: Options, context: ScannerContext): Scanner;
}
