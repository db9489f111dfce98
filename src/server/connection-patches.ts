import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { SMTPServer, SMTPServerSession } from 'smtp-server';
import { events } from '../observe/events.js';
import { replies } from '../smtp/replies.js';
import { formatReply, type SmtpReply } from '../smtp/reply.js';
import { onReply, type GuardSettings } from './connection-guards.js';
import { replyText } from './reply-error.js';

/**
 * smtp-server has no options for three things a proxy needs, so this module changes them on
 * its connections, through its public per-connection methods (init, connectionReady, send),
 * and only for servers registered here; other smtp-server instances in the process are left
 * alone. test/unit/server/connection-patches.test.ts pins each behaviour, so an smtp-server
 * upgrade that changes these methods fails the tests instead of changing what clients see.
 *
 * 1. Positive replies to MAIL, RCPT and DATA: smtp-server answers with its own text ("250
 *    Accepted") and enhanced code; a proxy relays the upstream's reply as it is (251 and the
 *    upstream's text included, and no enhanced code where the upstream gave none).
 * 2. Enhanced status codes: smtp-server adds one to every reply when they are enabled, and
 *    would double the code of a relayed text that already starts with one.
 * 3. The greeting pause: smtp-server waits a fixed 100 ms before the banner; ours is
 *    limits.greetDelay, and `onAccept` starts work about the client as the pause begins.
 * 4. Guards that see every reply: a deadline for each command and for the whole DATA phase,
 *    and a limit on errors (connection-guards.ts).
 * 5. AUTH offered only over TLS (ConnectionSettings.authOnlyOverTls).
 */
export interface ConnectionSettings extends GuardSettings {
  readonly greetDelay: number;
  /**
   * Called as a connection is taken, before the greeting pause, so work about the client
   * (screening's DNS lookups) runs while the pause lasts (postscreen's greet_wait).
   */
  readonly onAccept?: (session: SMTPServerSession, remoteAddress: string) => void;
  /**
   * A listener that takes AUTH (submission): smtp-server lists AUTH in the EHLO reply before
   * STARTTLS too, and refuses AUTH there with a non-standard 538; no mechanism is offered on a
   * connection in clear, and AUTH there gets RFC 3207's 530 5.7.0.
   */
  readonly authOnlyOverTls?: boolean;
}

const servers = new WeakMap<SMTPServer, ConnectionSettings>();
const successReplies = new WeakMap<SMTPServerSession, SmtpReply>();
const greetingAllowed = new WeakSet<SMTPConnection>();
const greeted = new WeakSet<SMTPConnection>();
const ENHANCED_PREFIX = /^[245]\.\d{1,3}\.\d{1,3}(?: |$)/;
const SUCCESS_CONTEXTS = new Set(['MAIL_FROM_OK', 'RCPT_TO_OK', 'DATA_OK']);

export function registerServer(server: SMTPServer, settings: ConnectionSettings): void {
  patchOnce();
  servers.set(server, settings);
}

/** The reply smtp-server sends for the MAIL, RCPT or DATA that the handler is about to accept. */
export function setSuccessReply(session: SMTPServerSession, reply: SmtpReply): void {
  successReplies.set(session, reply);
}

/**
 * Replies written in the same tick leave in one write: a pipelining client's RCPT reply and
 * the 354 that follows it at once, say. Each write is a system call, the proxy's main cost.
 */
function coalesce(socket: SMTPConnection['_socket']): void {
  if (socket.writableCorked > 0 || socket.destroyed) return;
  socket.cork();
  process.nextTick(() => socket.uncork());
}

let patched = false;

function patchOnce(): void {
  if (patched) return;
  patched = true;
  const proto = SMTPConnection.prototype;
  const { send, init, connectionReady } = proto;

  proto.send = function (this: SMTPConnection, code, data, context) {
    const settings = servers.get(this._server);
    if (!settings) return send.call(this, code, data, context);
    if (settings.authOnlyOverTls && !this.secure) {
      if (code === 250 && Array.isArray(data)) data = data.filter((line) => !/^AUTH /i.test(line));
      if (code === 538) return proto.send.call(this, replies.tlsRequiredForAuth.code, replyText(replies.tlsRequiredForAuth), false);
    }
    onReply(this, code, settings);
    coalesce(this._socket);
    if (typeof context === 'string' && SUCCESS_CONTEXTS.has(context)) {
      const reply = successReplies.get(this.session);
      successReplies.delete(this.session);
      if (reply) return send.call(this, reply.code, formatReply(reply).slice(4), false);
    }
    if (typeof data === 'string' && ENHANCED_PREFIX.test(data)) return send.call(this, code, data, false);
    // smtp-server takes LHLO for EHLO, whose replies carry no enhanced code (RFC 2034), even
    // when it refuses LHLO as unknown on an SMTP listener: a refusal must carry one.
    if (context === 'LHLO' && code >= 400) return send.call(this, code, data);
    return send.call(this, code, data, context);
  };

  proto.init = function (this: SMTPConnection) {
    init.call(this);
    const settings = servers.get(this._server);
    if (!settings) return;
    const greet = () => {
      greetingAllowed.add(this);
      this.connectionReady();
    };
    // Counted here, where every connection passes once and its socket's close is certain.
    events.connection.publish({ event: 'opened' });
    this._socket.once('close', () => events.connection.publish({ event: 'closed' }));
    settings.onAccept?.(this.session, this.remoteAddress);
    // setTimeout(0) waits at least a millisecond; a trusted relay asked for no pause at all.
    if (settings.greetDelay === 0) setImmediate(greet);
    else setTimeout(greet, settings.greetDelay).unref();
  };

  proto.connectionReady = function (this: SMTPConnection, next) {
    if (!servers.has(this._server)) return connectionReady.call(this, next);
    // smtp-server's own fixed-delay call arrives here too; only ours greets, and only once.
    if (!greetingAllowed.has(this) || greeted.has(this) || this._closing) return;
    greeted.add(this);
    return connectionReady.call(this, next);
  };
}
