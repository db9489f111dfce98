import type { ScanResult } from '../scan/scan-result.js';
import { flagsSpam, type HeaderSettings } from './verdict-headers.js';

/** Exchange's spam confidence level, which its Junk mail rule reads (SCL 5 and over by default). */
export const SCL_HEADER = 'X-MS-Exchange-Organization-SCL';

export interface SclSettings {
  /** A score under every threshold. */
  readonly clean: number;
  /** A message the antispam scanner flagged (X-Spam-Flag: YES: at or over its tagScore, or the engine's own action). */
  readonly tagged: number;
  /** A score at or over `score` (and under tagScore) gets `scl`; the highest such entry wins. */
  readonly scores: readonly { readonly score: number; readonly scl: number }[];
}

/**
 * The SCL for a passed message, from the first antispam scanner's score as X-Spam-Status
 * reports it. No score (no antispam scanner, or it failed, or skipped the message) gives no SCL:
 * Exchange's own filtering then judges the message, as for mail that never passed the proxy.
 * In observe mode a score over rejectScore (or an engine's reject) passed flagged: `tagged` too.
 */
export function sclFor(results: readonly ScanResult[], scanners: ReadonlyMap<string, HeaderSettings>, scl: SclSettings): number | undefined {
  const spam = results.find((result) => scanners.get(result.name)?.category === 'antispam');
  if (spam?.verdict.kind !== 'scored') return undefined;
  const { score } = spam.verdict;
  if (flagsSpam(spam.verdict, scanners.get(spam.name)!.tagScore)) return scl.tagged;
  const steps = scl.scores.filter((step) => score >= step.score).sort((a, b) => b.score - a.score);
  return steps[0]?.scl ?? scl.clean;
}
