import type { SmtpReply } from '../smtp/reply.js';

/**
 * smtp-server answers a handler's error with `err.responseCode` and `err.message`; the message
 * starts with the enhanced code so the client sees exactly our (or the upstream's) reply.
 * A relayed reply without one gets its class's generic code (X.0.0), as every rejection
 * we send carries an enhanced status code.
 */
export function replyError(reply: SmtpReply): Error & { responseCode: number } {
  return Object.assign(new Error(replyText(reply)), { responseCode: reply.code });
}

/** The reply as smtp-server's message argument: enhanced code and text, without the code. */
export function replyText(reply: SmtpReply): string {
  const enhanced = reply.enhanced ?? `${String(reply.code)[0]}.0.0`;
  return reply.text ? `${enhanced} ${reply.text}` : enhanced;
}
