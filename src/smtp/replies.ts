import { oneLine, type SmtpReply } from './reply.js';

const reply = (code: number, enhanced: string, text: string): SmtpReply => Object.freeze({ code, enhanced, text });

/**
 * Every reply the proxy makes up itself. Anything else a client sees is the upstream's own
 * reply, relayed. Texts never carry internal details (Postfix SMTPD_PROXY_README: not right
 * to disclose internal details to strangers); the logs have them.
 */
export const replies = Object.freeze({
  internalError: reply(451, '4.3.0', 'Internal error, please try again later'),
  spoolFull: reply(452, '4.3.1', 'Insufficient system storage, please try again later'),
  shuttingDown: reply(421, '4.3.2', 'Service shutting down, please try again later'),
  clientTimeout: reply(421, '4.4.2', 'Timeout exceeded, closing connection'),
  tooManyErrors: reply(421, '4.7.0', 'Too many errors, closing connection'),
  tooManyFromAddress: reply(421, '4.7.0', 'Too many connections from your address, please try again later'),
  upstreamUnavailable: reply(451, '4.4.1', 'Mail service temporarily unavailable, please try again later'),
  upstreamLost: reply(451, '4.4.2', 'Connection to the mail service lost, please try again later'),
  upstreamTimeout: reply(451, '4.4.2', 'Mail service did not answer in time, please try again later'),
  upstreamRefused: reply(451, '4.3.2', 'Mail service not accepting messages, please try again later'),
  upstreamProtocol: reply(451, '4.5.0', 'Mail service protocol error, please try again later'),
  upstreamMissingExtension: reply(451, '4.3.3', 'Mail service does not support a requested extension, please try again later'),
  upstreamMisconfigured: reply(451, '4.3.5', 'Mail service configuration error, please try again later'),
  messageTooBig: reply(552, '5.3.4', 'Message size exceeds fixed maximum message size'),
  bareLineFeed: reply(550, '5.5.2', 'Message contains a bare CR or LF (RFC 5321 section 2.3.8)'),
  scanTempfail: reply(451, '4.7.1', 'Message could not be scanned, please try again later'),
  spamDeferred: reply(451, '4.7.1', 'Message deferred as possible spam, please try again later'),
  senderOkLocally: reply(250, '2.1.0', 'Ok'),
  loginAccepted: reply(235, '2.7.0', 'Authentication successful'),
  loginFailed: reply(535, '5.7.8', 'Authentication credentials invalid'),
  tooManyFailedLogins: reply(454, '4.7.0', 'Too many failed logins, please try again later'),
  authRequired: reply(530, '5.7.0', 'Authentication required'),
  tlsRequiredForAuth: reply(530, '5.7.0', 'Must issue a STARTTLS command first'),
});

export type ReplyName = keyof typeof replies;

/** Verdict replies carry what was found, so they are built per message. */
export function infectedReply(signature: string): SmtpReply {
  return { code: 554, enhanced: '5.7.1', text: `Message rejected: virus found: ${signature}` };
}

export function spamReply(score: number, threshold: number): SmtpReply {
  return { code: 550, enhanced: '5.7.1', text: `Message rejected as spam (score ${score.toFixed(1)}, limit ${threshold.toFixed(1)})` };
}

export function bannedReply(reason: string): SmtpReply {
  return { code: 554, enhanced: '5.7.1', text: `Message rejected: ${reason}` };
}

/**
 * The same verdicts for mail from a submission listener: the sender is one of our own users,
 * so the text says what it means for them (the 5xx reaches their mail program, not a stranger).
 */
export function outboundInfectedReply(signature: string): SmtpReply {
  return { code: 554, enhanced: '5.7.1', text: `Message not sent: it contains a virus (${signature}); your computer may be infected, please have it checked` };
}

export function outboundBannedReply(reason: string): SmtpReply {
  return { code: 554, enhanced: '5.7.1', text: `Message not sent: ${reason}` };
}

export function outboundSpamReply(score: number, threshold: number): SmtpReply {
  return {
    code: 550,
    enhanced: '5.7.1',
    text: `Message not sent: it looks like spam (score ${score.toFixed(1)}, limit ${threshold.toFixed(1)}); `
      + 'if you did not write it, your account may be compromised: change your password',
  };
}

/** An authenticated account over its own limit (outbound.limits): 450, that command only. */
export function accountMessageLimitReply(limit: number, per: string): SmtpReply {
  return { code: 450, enhanced: '4.7.1', text: `Your account reached its limit of messages per ${per} (${limit}), please try again later` };
}

export function accountRecipientLimitReply(limit: number, per: string): SmtpReply {
  return { code: 450, enhanced: '4.7.1', text: `Your account reached its limit of recipients per ${per} (${limit}), please try again later` };
}

/**
 * A sender address the login may not use (outbound.senders), in Postfix's words for
 * reject_sender_login_mismatch. Both are the client's own text, so the reply is made one line.
 */
export function senderNotOwnedReply(sender: string, login: string): SmtpReply {
  return { code: 553, enhanced: '5.7.1', text: oneLine(`<${sender}>: Sender address rejected: not owned by user ${login}`) };
}

/**
 * Rate-limit refusals, worded as Postfix's smtpd words them from anvil's counts (without the
 * host name Postfix puts first), so an operator's log searches and a sender's expectations
 * carry over. Connections get 421 (closed); mail and recipients get 450 (that command only).
 */
export function tooManyConnectionsReply(address: string): SmtpReply {
  return { code: 421, enhanced: '4.7.0', text: `Error: too many connections from ${address}` };
}

export function tooMuchMailReply(address: string): SmtpReply {
  return { code: 450, enhanced: '4.7.1', text: `Error: too much mail from ${address}` };
}

export function tooManyRecipientsReply(address: string): SmtpReply {
  return { code: 450, enhanced: '4.7.1', text: `Error: too many recipients from ${address}` };
}

/**
 * Postfix has no per-sender limit; this one follows the wording of the others. The sender is
 * the client's own text, so it is made one line like a relayed reply.
 */
export function tooManyRecipientsFromSenderReply(sender: string): SmtpReply {
  return { code: 450, enhanced: '4.7.1', text: oneLine(`Error: too many recipients from sender <${sender}>`) };
}

/**
 * A client on a DNS list, or denied by screening's access list (*list* is then "access list"),
 * worded as Postfix's postscreen words it. 521 at connect (`drop`, RFC 7504: no mail here, the
 * connection closes); 550 at each RCPT (`enforce`, so the sender and recipients are logged).
 */
export function blockedReply(address: string, list: string): SmtpReply {
  return { code: 521, enhanced: '5.7.1', text: `Service unavailable; client [${address}] blocked using ${list}` };
}

export function blockedAtRcptReply(address: string, list: string): SmtpReply {
  return { code: 550, enhanced: '5.7.1', text: `Service unavailable; client [${address}] blocked using ${list}` };
}
