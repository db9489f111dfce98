import type { ScanResult } from '../scan/scan-result.js';
import type { ScannerCategory } from '../scan/registry.js';
import { bannedReply, infectedReply, replies, spamReply } from '../smtp/replies.js';
import type { SmtpReply } from '../smtp/reply.js';
import type { Decision } from './decision.js';
import { VERDICT_HEADER_PREFIXES, verdictHeaders } from './verdict-headers.js';

export interface PolicySettings {
  readonly category: ScannerCategory;
  readonly onError: 'tempfail' | 'accept';
  readonly rejectScore: number;
  readonly tagScore: number;
}

/**
 * Turns the scan results of one message into a decision. Pure.
 *
 * Order: a virus, a banned part or a spam score at or over rejectScore rejects (5xx: a definite
 * finding stands even if another scanner failed); otherwise a scanner failure whose onError is
 * tempfail gives 451 4.7.1 (the sender retries); otherwise the message passes with verdict
 * headers, the sender's own X-Spam-* and X-Virus-* removed.
 */
export function decide(
  results: readonly ScanResult[],
  settings: ReadonlyMap<string, PolicySettings>,
  hostname: string,
): Decision {
  const setting = (result: ScanResult) => {
    const found = settings.get(result.name);
    if (!found) throw new Error(`no policy settings for scanner ${result.name}`);
    return found;
  };
  for (const { verdict } of results) {
    if (verdict.kind === 'infected') return reject(infectedReply(verdict.signature), `virus ${verdict.signature}`);
  }
  for (const { verdict } of results) {
    if (verdict.kind === 'banned') return reject(bannedReply(verdict.reason), `banned ${verdict.items.join(' ')}`);
  }
  for (const result of results) {
    const { verdict } = result;
    const { rejectScore } = setting(result);
    if (verdict.kind === 'scored' && verdict.score >= rejectScore) {
      return reject(spamReply(verdict.score, rejectScore), `spam score ${verdict.score}`);
    }
  }
  const failed = results.filter((result) => result.verdict.kind === 'error' && setting(result).onError === 'tempfail');
  if (failed.length > 0) {
    const reason = failed.map((result) => `${result.name}: ${describeError(result)}`).join('; ');
    return reject(replies.scanTempfail, `scanner failure (${reason})`);
  }
  return {
    action: 'pass',
    headers: { remove: [...VERDICT_HEADER_PREFIXES], add: verdictHeaders(results, settings, hostname) },
  };
}

function reject(reply: SmtpReply, reason: string): Decision {
  return { action: 'reject', reply, reason };
}

function describeError(result: ScanResult): string {
  return result.verdict.kind === 'error' ? `${result.verdict.error} ${result.verdict.detail}` : result.verdict.kind;
}
