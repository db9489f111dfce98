import type { SmtpReply } from './smtp/reply.js';
import { replies } from './smtp/replies.js';

/**
 * The base of every error the proxy raises on purpose. `code` is stable (SSP_ERR_*) and listed
 * in docs/errors.md; `reply` is what a client sees when the error reaches it.
 */
export class ProxyError extends Error {
  readonly code: string;
  readonly reply: SmtpReply;

  constructor(code: string, message: string, reply: SmtpReply, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.reply = reply;
  }
}

export class ConfigError extends ProxyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SSP_ERR_CONFIG', message, replies.internalError, options);
  }
}

export class InternalError extends ProxyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SSP_ERR_INTERNAL', message, replies.internalError, options);
  }
}

/** The upstream side failed; the client gets a 4xx and retries. */
export class UpstreamError extends ProxyError {}

export class UpstreamUnavailableError extends UpstreamError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SSP_ERR_UPSTREAM_UNAVAILABLE', message, replies.upstreamUnavailable, options);
  }
}

export class UpstreamRefusedError extends UpstreamError {
  /** The upstream's own refusal (banner, EHLO, XCLIENT or keepalive NOOP reply), for the logs. */
  readonly upstreamReply: SmtpReply;
  constructor(message: string, upstreamReply: SmtpReply) {
    super('SSP_ERR_UPSTREAM_REFUSED', message, replies.upstreamRefused);
    this.upstreamReply = upstreamReply;
  }
}

export class UpstreamTimeoutError extends UpstreamError {
  constructor(message: string) {
    super('SSP_ERR_UPSTREAM_TIMEOUT', message, replies.upstreamTimeout);
  }
}

export class UpstreamClosedError extends UpstreamError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('SSP_ERR_UPSTREAM_CLOSED', message, replies.upstreamLost, options);
  }
}

export class UpstreamProtocolError extends UpstreamError {
  constructor(message: string) {
    super('SSP_ERR_UPSTREAM_PROTOCOL', message, replies.upstreamProtocol);
  }
}

/** The upstream lacks an extension the client's transaction depends on (SMTPUTF8, 8BITMIME). */
export class UpstreamMissingExtensionError extends UpstreamError {
  constructor(extension: string) {
    super('SSP_ERR_UPSTREAM_EXTENSION', `upstream does not offer ${extension}`, replies.upstreamMissingExtension);
  }
}

/**
 * The upstream does not let the proxy pass the client's identity (XCLIENT not offered to it)
 * although upstream.xclient says it must: relaying anyway would make every client look like
 * the proxy, which the upstream often trusts (Postfix's default mynetworks).
 */
export class UpstreamXclientMissingError extends UpstreamError {
  constructor(message: string) {
    super('SSP_ERR_UPSTREAM_NO_XCLIENT', message, replies.upstreamMisconfigured);
  }
}

/** The message could not be stored (ENOSPC, EACCES, ...). */
export class SpoolError extends ProxyError {
  constructor(message: string, options: { cause?: unknown; full?: boolean }) {
    super('SSP_ERR_SPOOL', message, options.full ? replies.spoolFull : replies.internalError, options);
  }
}

/** The client's message breaks a rule of ours (size, bare LF); the reply is a 5xx. */
export class MessageRejectedError extends ProxyError {
  constructor(code: string, message: string, reply: SmtpReply) {
    super(code, message, reply);
  }
}

/** The reply a client sees for any error: our own for ProxyErrors, a generic 451 otherwise. */
export function replyFor(error: unknown): SmtpReply {
  return error instanceof ProxyError ? error.reply : replies.internalError;
}
