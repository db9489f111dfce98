/**
 * What a scanner found. Adapters return these values and never choose SMTP replies:
 * src/policy turns verdicts into a decision.
 */
export type ScanErrorKind = 'unavailable' | 'timeout' | 'protocol' | 'too-large';

export type Verdict =
  | { readonly kind: 'clean' }
  | { readonly kind: 'infected'; readonly signature: string }
  /** A spam engine's score; the policy compares it with its own thresholds. */
  | {
      readonly kind: 'scored';
      readonly score: number;
      readonly threshold: number;
      readonly rules: readonly string[];
      /** Bytes the engine saw when it saw less than the whole message. */
      readonly truncatedTo?: number;
    }
  /** A content policy hit (e.g. a banned attachment); `items` names what matched. */
  | { readonly kind: 'banned'; readonly reason: string; readonly items: readonly string[] }
  | { readonly kind: 'error'; readonly error: ScanErrorKind; readonly detail: string };

export const clean: Verdict = Object.freeze({ kind: 'clean' });

export function scanError(error: ScanErrorKind, detail: string): Verdict {
  return { kind: 'error', error, detail };
}
