import type { SmtpReply } from './reply.js';

/**
 * Where common MTAs name the queue entry in their final reply to DATA, so the proxy's log line
 * can be joined with the MTA's own log. First match wins; the id is whatever the MTA logs.
 */
const PATTERNS: readonly RegExp[] = [
  // Postfix: "250 2.0.0 Ok: queued as 4F3Xyz1AbC"
  /\bqueued as ([A-Za-z0-9]+)/,
  // Exchange: "250 2.6.0 <id@host> [InternalId=1234567890, Hostname=EX01] Queued mail for delivery"
  /\bInternalId=([0-9]+)/,
  // Exim: "250 OK id=1rAbCd-000Xyz-0a"
  /\bid=([A-Za-z0-9-]+)/,
  // Sendmail: "250 2.0.0 4AB1c2D3001234 Message accepted for delivery"
  /^([A-Za-z0-9]{8,}) Message accepted for delivery/,
];

/** The upstream's queue id in a positive final reply, if it names one. Pure. */
export function queueIdOf(reply: SmtpReply): string | undefined {
  if (reply.code < 200 || reply.code >= 300) return undefined;
  for (const pattern of PATTERNS) {
    const match = pattern.exec(reply.text);
    if (match) return match[1];
  }
  return undefined;
}
