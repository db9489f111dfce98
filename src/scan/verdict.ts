/**
 * What a scanner found. Adapters return these values and never choose SMTP replies:
 * src/policy turns verdicts into a decision.
 */
export type ScanErrorKind = 'unavailable' | 'timeout' | 'protocol' | 'too-large';

/**
 * What a spam engine that decides for itself asked for (Rspamd's action): `reject`, `tempfail`
 * (its soft reject), `tag` (add header, rewrite subject) or `none`. The policy follows it on top
 * of its own thresholds: the stricter of the two wins.
 */
export type EngineAction = 'reject' | 'tempfail' | 'tag' | 'none';

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
      /** The engine's own decision, when it makes one. */
      readonly action?: EngineAction;
    }
  /** A content policy hit (e.g. a banned attachment); `items` names what matched. */
  | { readonly kind: 'banned'; readonly reason: string; readonly items: readonly string[] }
  | { readonly kind: 'error'; readonly error: ScanErrorKind; readonly detail: string };

export const clean: Verdict = Object.freeze({ kind: 'clean' });

export function scanError(error: ScanErrorKind, detail: string): Verdict {
  return { kind: 'error', error, detail };
}
