import { replies } from '../smtp/replies.js';
import { isPositive, type SmtpReply } from '../smtp/reply.js';
import { events, type MessageOutcome } from './events.js';

/**
 * The outcome label of a message we refused, from the refusal's reason (src/policy/decide.ts
 * and the session's own size and bare-LF checks name them; test/unit/observe pins the pairs).
 */
export function refusalOutcome(reply: SmtpReply, reason: string): MessageOutcome {
  if (reply === replies.messageTooBig) return 'size';
  if (reply === replies.bareLineFeed) return 'bare-lf';
  if (reply === replies.scanTempfail) return 'scanner-tempfail';
  if (reason.startsWith('virus ')) return 'virus';
  if (reason.startsWith('banned ')) return 'banned';
  if (reason.startsWith('spam ')) return 'spam';
  return 'rejected-other';
}

/** The outcome label of a message the upstream answered at the end of DATA. */
export function upstreamOutcome(reply: SmtpReply): MessageOutcome {
  if (isPositive(reply)) return 'relayed';
  return reply.code >= 500 ? 'upstream-5xx' : 'upstream-4xx';
}

export function publishMessage(outcome: MessageOutcome, bytes: number): void {
  events.message.publish({ outcome, bytes });
}
