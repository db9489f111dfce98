import type { Verdict } from './verdict.js';

/** One scanner's outcome for one message, as the policy sees it. */
export interface ScanResult {
  readonly name: string;
  readonly type: string;
  /** `skipped`: not scanned by configuration (too large with onOversize: skip). */
  readonly verdict: Verdict | { readonly kind: 'skipped'; readonly reason: string };
  readonly ms: number;
  /** Set when the scanner saw only the first bytes (onOversize: truncate). */
  readonly scannedBytes?: number;
  readonly messageBytes: number;
}
