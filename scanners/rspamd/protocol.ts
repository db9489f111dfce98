import type { ScanSession } from '../../src/scan/scan-session.js';
import { scanError, type EngineAction, type Verdict } from '../../src/scan/verdict.js';

/*
 * Rspamd's HTTP protocol (https://rspamd.com/doc/developers/protocol.html): POST /checkv2 with
 * the message as the body and what the MTA knows about it as request headers; the answer is a
 * JSON object with the score, the reject limit (required_score), the action and the symbols.
 */

/** An answer of /checkv2 is a few KB; anything this long is not Rspamd talking to us. */
export const MAX_RESPONSE = 1024 * 1024;

/**
 * The session as Rspamd's request headers: IP (none for a message from a file), Helo, Hostname (the client's PTR name; left out
 * when it has none, so Rspamd does not take "unknown" for a name), From, one Rcpt per recipient,
 * User (the login of a submission session: Rspamd then treats the mail as outbound), Queue-Id
 * (our session id, so its log and ours join), MTA-Name (our host name).
 */
export function requestHeaders(session: ScanSession, length: number): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {
    'Content-Length': String(length),
    From: session.mailFrom,
    'Queue-Id': session.id,
    'MTA-Name': session.hostname,
  };
  if (session.clientAddress !== '') headers.IP = session.clientAddress;
  if (session.helo !== undefined) headers.Helo = session.helo;
  if (session.clientName !== undefined) headers.Hostname = session.clientName;
  if (session.rcptTo.length > 0) headers.Rcpt = [...session.rcptTo];
  if (session.user !== undefined) headers.User = session.user;
  // Header values go on the wire as they are; a CR or LF (never in values smtp-server accepted) or another control character would end them early.
  for (const [name, value] of Object.entries(headers)) {
    headers[name] = Array.isArray(value) ? value.map(headerSafe) : headerSafe(value);
  }
  return headers;
}

function headerSafe(value: string): string {
  return value.replace(/[\x00-\x1f\x7f]/g, '?');
}

/** Rspamd's actions, as the policy understands them. Greylist: Rspamd's greylist module answers soft reject itself when it greylists. */
const ACTIONS: Readonly<Record<string, EngineAction>> = {
  reject: 'reject',
  'soft reject': 'tempfail',
  'rewrite subject': 'tag',
  'add header': 'tag',
  greylist: 'none',
  'no action': 'none',
};

interface CheckReply {
  readonly score?: unknown;
  readonly required_score?: unknown;
  readonly action?: unknown;
  readonly symbols?: unknown;
  readonly error?: unknown;
}

/** Maps the status and body of a /checkv2 answer to a verdict; it never throws. */
export function checkVerdict(status: number, body: Buffer): Verdict {
  let reply: CheckReply;
  try {
    reply = JSON.parse(body.toString('utf8')) as CheckReply;
  } catch {
    return scanError('protocol', `rspamd answered ${status} with a body that is not JSON: ${quote(body)}`);
  }
  if (status !== 200) {
    const error = typeof reply?.error === 'string' ? reply.error : quote(body);
    return scanError('protocol', `rspamd answered ${status}: ${printable(error)}`);
  }
  const { score, required_score: threshold, action, symbols } = reply ?? {};
  if (typeof score !== 'number' || typeof threshold !== 'number' || typeof action !== 'string') {
    return scanError('protocol', `rspamd answer without score, required_score or action: ${quote(body)}`);
  }
  const rules = symbols !== null && typeof symbols === 'object' ? Object.keys(symbols) : [];
  // A custom action (discard, quarantine...) is left to our thresholds: the score still counts.
  return { kind: 'scored', score: round(score), threshold: round(threshold), rules, action: ACTIONS[action] ?? 'none' };
}

/** Rspamd prints scores like 2.900000 or 0.299999: one decimal is what the headers show. */
function round(value: number): number {
  return Math.round(value * 100) / 100 + 0;
}

function quote(body: Buffer): string {
  return JSON.stringify(body.subarray(0, 200).toString('utf8'));
}

function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]+/g, ' ').slice(0, 300);
}

/** "rspamd/3.4" from the Server header of any answer. */
export function parseVersion(server: string | undefined): string | undefined {
  const match = /^rspamd\/(\S+)/i.exec(server ?? '');
  return match ? `Rspamd ${match[1]}` : undefined;
}
