import type { ScanResult } from '../scan/scan-result.js';
import type { SmtpReply } from '../smtp/reply.js';

/** Header changes for a passed message: fields removed first, then fields added on top. */
export interface HeaderEdits {
  /** Field names (case-insensitive; "X-Spam-*" for a prefix) whose every occurrence is removed. */
  readonly remove: readonly string[];
  /** Fields added at the top of the header, in this order. Values are single-line. */
  readonly add: readonly (readonly [name: string, value: string])[];
}

/**
 * What happens to a message after scanning: relayed with header edits, or refused in-session.
 * `observed`: the refusal observe mode held back. `results`: each scanner's verdict and time,
 * for the message's log line and the scan command (absent when nothing scanned).
 */
export type Decision =
  | {
      readonly action: 'pass';
      readonly headers: HeaderEdits;
      readonly observed?: { readonly reply: SmtpReply; readonly reason: string };
      readonly results?: readonly ScanResult[];
    }
  | { readonly action: 'reject'; readonly reply: SmtpReply; readonly reason: string; readonly results?: readonly ScanResult[] };

export const passUnchanged: Decision = Object.freeze({ action: 'pass', headers: Object.freeze({ remove: [], add: [] }) });
