import type { ScanResult } from '../scan/scan-result.js';
import type { ScannerCategory } from '../scan/registry.js';
import {
  bannedReply,
  infectedReply,
  outboundBannedReply,
  outboundInfectedReply,
  outboundSpamReply,
  replies,
  spamReply,
} from '../smtp/replies.js';
import { formatReply, oneLine, type SmtpReply } from '../smtp/reply.js';
import type { Decision } from './decision.js';
import { VERDICT_HEADER_PREFIXES, verdictHeaders } from './verdict-headers.js';

export interface PolicySettings {
  readonly category: ScannerCategory;
  readonly onError: 'tempfail' | 'accept';
  readonly rejectScore: number;
  readonly tagScore: number;
  /** observe: this scanner's findings are tagged and logged, never refused. */
  readonly mode: 'enforce' | 'observe';
}

/** How the refusal of a definite finding is worded: to a stranger (inbound) or to our own user (outbound). */
export interface VerdictReplies {
  readonly infected: (signature: string) => SmtpReply;
  readonly banned: (reason: string) => SmtpReply;
  readonly spam: (score: number, threshold: number) => SmtpReply;
}

export const inboundReplies: VerdictReplies = { infected: infectedReply, banned: bannedReply, spam: spamReply };
export const outboundReplies: VerdictReplies = { infected: outboundInfectedReply, banned: outboundBannedReply, spam: outboundSpamReply };

/** The header that says what a message passed in observe mode would have had. */
export const OBSERVE_HEADER = 'X-Scan-Proxy-Observe';

/**
 * Turns the scan results of one message into a decision. Pure.
 *
 * Order: a virus, a banned part or a spam score at or over rejectScore (or an engine's own
 * reject) rejects (5xx: a definite finding stands even if another scanner failed); then an
 * engine's soft reject gives 451 4.7.1; otherwise a scanner failure whose onError is
 * tempfail gives 451 4.7.1 (the sender retries); otherwise the message passes with verdict
 * headers, the sender's own X-Spam-* and X-Virus-* removed. A finding of a scanner in observe
 * mode does not reject: the message goes on as a pass that says what would have happened
 * (`observed`, and the X-Scan-Proxy-Observe header); faults still follow onError.
 */
export function decide(
  results: readonly ScanResult[],
  settings: ReadonlyMap<string, PolicySettings>,
  hostname: string,
  wording: VerdictReplies = inboundReplies,
): Decision {
  const setting = (result: ScanResult) => {
    const found = settings.get(result.name);
    if (!found) throw new Error(`no policy settings for scanner ${result.name}`);
    return found;
  };
  const enforced = finding(results.filter((result) => setting(result).mode === 'enforce'), setting, wording);
  if (enforced) return reject(enforced.reply, enforced.reason);
  const failed = results.filter((result) => result.verdict.kind === 'error' && setting(result).onError === 'tempfail');
  if (failed.length > 0) {
    const reason = failed.map((result) => `${result.name}: ${describeError(result)}`).join('; ');
    return reject(replies.scanTempfail, `scanner failure (${reason})`);
  }
  const headers = verdictHeaders(results, settings, hostname);
  const observed = finding(results.filter((result) => setting(result).mode === 'observe'), setting, wording);
  if (!observed) return { action: 'pass', headers: { remove: [...VERDICT_HEADER_PREFIXES], add: headers } };
  const would = `would reject: ${formatReply(observed.reply)}`;
  return {
    action: 'pass',
    headers: { remove: [...VERDICT_HEADER_PREFIXES], add: [...headers, [OBSERVE_HEADER, oneLine(would)]] },
    observed: { reply: observed.reply, reason: observed.reason },
  };
}

/** The first definite finding: a virus, then a banned part, then a spam score at or over rejectScore. */
function finding(
  results: readonly ScanResult[],
  setting: (result: ScanResult) => PolicySettings,
  wording: VerdictReplies,
): { reply: SmtpReply; reason: string } | undefined {
  for (const { verdict } of results) {
    if (verdict.kind === 'infected') return { reply: wording.infected(verdict.signature), reason: `virus ${verdict.signature}` };
  }
  for (const { verdict } of results) {
    if (verdict.kind === 'banned') return { reply: wording.banned(verdict.reason), reason: `banned ${verdict.items.join(' ')}` };
  }
  for (const result of results) {
    const { verdict } = result;
    const { rejectScore } = setting(result);
    if (verdict.kind === 'scored' && verdict.score >= rejectScore) {
      return { reply: wording.spam(verdict.score, rejectScore), reason: `spam score ${verdict.score}` };
    }
    // The engine's own limit, not ours, is the one it went by.
    if (verdict.kind === 'scored' && verdict.action === 'reject') {
      return { reply: wording.spam(verdict.score, verdict.threshold), reason: `spam score ${verdict.score}, ${result.name} action reject` };
    }
  }
  for (const result of results) {
    const { verdict } = result;
    if (verdict.kind === 'scored' && verdict.action === 'tempfail') {
      return { reply: replies.spamDeferred, reason: `spam score ${verdict.score}, ${result.name} action soft reject` };
    }
  }
  return undefined;
}

function reject(reply: SmtpReply, reason: string): Decision {
  return { action: 'reject', reply, reason };
}

function describeError(result: ScanResult): string {
  return result.verdict.kind === 'error' ? `${result.verdict.error} ${result.verdict.detail}` : result.verdict.kind;
}
