import type { ScanResult } from '../scan/scan-result.js';
import type { Verdict } from '../scan/verdict.js';
import type { ScannerCategory } from '../scan/registry.js';
import { oneLine } from '../smtp/reply.js';

/** Header fields the proxy writes; whatever a sender put under these names is removed first. */
export const VERDICT_HEADER_PREFIXES = ['X-Spam-*', 'X-Virus-*', 'X-Scan-Proxy-Observe'] as const;

export interface HeaderSettings {
  readonly category: ScannerCategory;
  readonly tagScore: number;
}

/**
 * The verdict headers of a passed message: X-Virus-Scanned lists every antivirus and content
 * scanner's outcome; the first antispam engine fills X-Spam-Score, X-Spam-Status (SpamAssassin's
 * format) and X-Spam-Flag. Unscanned, skipped and partly scanned messages say so.
 */
export function verdictHeaders(
  results: readonly ScanResult[],
  settings: ReadonlyMap<string, HeaderSettings>,
  hostname: string,
): [string, string][] {
  const headers: [string, string][] = [];
  const listed = results.filter((result) => settings.get(result.name)?.category !== 'antispam');
  if (listed.length > 0) headers.push(['X-Virus-Scanned', `${listed.map(outcome).join(', ')} at ${hostname}`]);
  const spam = results.find((result) => settings.get(result.name)?.category === 'antispam');
  if (spam) headers.push(...spamHeaders(spam, settings.get(spam.name)!.tagScore));
  return headers.map(([name, value]) => [name, fold(oneLine(value))]);
}

function outcome(result: ScanResult): string {
  const { verdict } = result;
  switch (verdict.kind) {
    case 'clean':
    case 'scored':
      return `${result.name} clean`;
    case 'skipped':
      return `${result.name} not scanned (${verdict.reason})`;
    case 'error':
      return `${result.name} not scanned (${verdict.error})`;
    case 'infected':
      // only in observe mode: an enforced finding is rejected, never tagged
      return `${result.name} infected (${verdict.signature})`;
    case 'banned':
      return `${result.name} banned (${verdict.reason})`;
  }
}

function spamHeaders(result: ScanResult, tagScore: number): [string, string][] {
  const { verdict } = result;
  if (verdict.kind !== 'scored') {
    const why = verdict.kind === 'error' ? verdict.error : verdict.kind === 'skipped' ? verdict.reason : verdict.kind;
    return [['X-Spam-Status', `Unknown, not scanned (${why})`]];
  }
  const isSpam = flagsSpam(verdict, tagScore);
  const tests = verdict.rules.length > 0 ? verdict.rules.join(',') : 'none';
  const partial = result.scannedBytes === undefined ? '' : ` scanned=first ${result.scannedBytes} of ${result.messageBytes} bytes`;
  return [
    ...(isSpam ? [['X-Spam-Flag', 'YES'] as [string, string]] : []),
    ['X-Spam-Score', verdict.score.toFixed(1)],
    ['X-Spam-Status', `${isSpam ? 'Yes' : 'No'}, score=${verdict.score.toFixed(1)} required=${tagScore.toFixed(1)} tests=${tests}${partial}`],
  ];
}

/**
 * X-Spam-Flag: YES (and Exchange's tagged SCL): a score at or over tagScore, or an engine that
 * asked for more than nothing itself (Rspamd's add header and worse, passed in observe mode).
 */
export function flagsSpam(verdict: Extract<Verdict, { kind: 'scored' }>, tagScore: number): boolean {
  return verdict.score >= tagScore || (verdict.action !== undefined && verdict.action !== 'none');
}

/** Folds a long value at commas and spaces, so no header line passes 78 characters if avoidable. */
function fold(value: string): string {
  if (value.length <= 60) return value;
  const out: string[] = [];
  let line = '';
  for (const token of value.split(/(?<=[, ])/)) {
    if (line.length + token.length > 70 && line.length > 0) {
      out.push(line.trimEnd());
      line = '';
    }
    line += token;
  }
  out.push(line.trimEnd());
  return out.join('\r\n\t');
}
