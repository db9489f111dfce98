import type { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { SMTPServerSession } from 'smtp-server';
import { replies } from '../smtp/replies.js';

export interface GuardSettings {
  /** A client that completes no command for this long is disconnected (slowloris included). */
  readonly idleTimeout: number;
  /** From the 354 to our reply: a message trickled in for longer is cut off. */
  readonly dataTimeout: number;
  /** Negative replies allowed on one connection; one more ends it (Postfix's hard error limit). */
  readonly maxErrors: number;
}

interface GuardState {
  timer: NodeJS.Timeout | undefined;
  errors: number;
}

const states = new WeakMap<SMTPServerSession, GuardState>();

const timeoutText = `${replies.clientTimeout.enhanced} ${replies.clientTimeout.text}`;
const errorsText = `${replies.tooManyErrors.enhanced} ${replies.tooManyErrors.text}`;

/**
 * Per-connection guards that run on every reply the connection sends, because every command
 * and every message ends in a reply. smtp-server's own idle timeout restarts with every byte
 * received, so a client trickling one byte every few seconds ("slowloris") would never hit it;
 * these timers restart only when a command or a message is complete.
 */
export function onReply(connection: SMTPConnection, code: number, settings: GuardSettings): void {
  const state = states.get(connection.session) ?? { timer: undefined, errors: 0 };
  states.set(connection.session, state);
  clearTimeout(state.timer);
  state.timer = undefined;
  if (connection._closing || connection._closed || code === 421) return;
  if (code >= 400 && ++state.errors > settings.maxErrors) {
    setImmediate(() => connection.send(421, errorsText, false));
    return;
  }
  const limit = code === 354 ? settings.dataTimeout : settings.idleTimeout;
  state.timer = setTimeout(() => connection.send(421, timeoutText, false), limit);
  state.timer.unref();
}

/** The connection closed: drop its timer now rather than when it would have fired. */
export function releaseGuards(session: SMTPServerSession): void {
  clearTimeout(states.get(session)?.timer);
  states.delete(session);
}
