/**
 * What a session knows about where its client came in and who it is, for the rooms that treat
 * mail by its origin (outbound policy, per-account limits, DKIM signing, scanners' context).
 *
 * The listener a client connected to decides the role: `inbound` (mail from the world for our
 * users) or `submission` (our users sending, after AUTH). `user` is the login the client
 * authenticated as, with the listener's auth (a users file, or the upstream's own SASL):
 * undefined until AUTH succeeded, and always on an inbound listener, which offers no AUTH.
 * A submission session never reaches MAIL without a user (530 5.7.0), so code at MAIL, RCPT
 * and DATA of a submission session may count on it.
 */
export type ListenerRole = 'inbound' | 'submission';

export interface SessionContext {
  readonly role: ListenerRole;
  /** Read it when you need it (it is set by AUTH, after the session was made). */
  readonly user: string | undefined;
}

/** The context of an inbound session: no role to check, no user ever. */
export const INBOUND: SessionContext = Object.freeze({ role: 'inbound', user: undefined });

/** A session's context on a listener of `role`; the user is smtp-server's session.user once AUTH succeeded. */
export function sessionContext(role: ListenerRole, session: { readonly user?: unknown }): SessionContext {
  if (role === 'inbound') return INBOUND;
  return {
    role,
    get user() {
      return typeof session.user === 'string' ? session.user : undefined;
    },
  };
}
