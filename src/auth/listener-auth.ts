import type { Logger } from 'pino';
import { events } from '../observe/events.js';
import type { ClientIdentity } from '../session/client-identity.js';
import type { UpstreamLink } from '../session/upstream-link.js';
import { replies } from '../smtp/replies.js';
import type { SmtpReply } from '../smtp/reply.js';
import type { AuthSettings } from './config.js';
import { FailedLogins } from './failed-logins.js';
import { relayLogin } from './upstream-auth.js';
import { UsersFile } from './users-file.js';

/** What smtp-server decoded from AUTH PLAIN or LOGIN. */
export interface Credentials {
  readonly method: string;
  readonly username: string;
  readonly password: string;
}

/** The reply for the client; `user` only when it is a success (smtp-server then says 235). */
export interface LoginOutcome {
  readonly reply: SmtpReply;
  readonly user?: string;
}

/** What a login needs from the session it happens in. */
export interface LoginContext {
  readonly identity: ClientIdentity & { readonly remoteAddress: string };
  readonly link: UpstreamLink;
  readonly signal: AbortSignal;
  readonly logger: Logger;
}

/**
 * The logins of one submission listener. Past the failed-login limit of the client's address
 * or of the user, AUTH gets 454 without the password being checked, so a guesser learns
 * nothing more, not even from a right guess. A success binds the session's upstream link to
 * the user: it is never pooled, and with `upstream` auth the session the user logged in on is
 * the only one it will use.
 */
export class ListenerAuth {
  private readonly users: UsersFile | undefined;
  private readonly failures: FailedLogins;

  constructor(
    private readonly settings: AuthSettings,
    logger: Logger,
  ) {
    this.users = settings.type === 'file' ? new UsersFile(settings.file, logger) : undefined;
    this.failures = new FailedLogins(settings.failedLogins, logger);
  }

  async login(credentials: Credentials, context: LoginContext): Promise<LoginOutcome> {
    const { identity, logger } = context;
    const address = identity.remoteAddress;
    const facts = { user: credentials.username, method: credentials.method };
    const over = await this.failures.overLimit(address, credentials.username);
    if (over) {
      logger.warn({ ...facts, limit: over === 'address' ? 'perAddress' : 'perUser' }, 'login refused: too many failed logins');
      events.login.publish({ result: 'refused' });
      return { reply: replies.tooManyFailedLogins };
    }
    const reply = this.users ? await this.checkFile(credentials) : await this.checkUpstream(credentials, context);
    if (reply.code !== 235) {
      logger.info({ ...facts, reply }, 'login failed');
      // A 4xx is the upstream's own trouble (its SASL backend down), not a wrong password.
      if (reply.code < 500) return { reply };
      await this.failures.failed(address, credentials.username);
      events.login.publish({ result: 'failed' });
      return { reply };
    }
    context.link.belongToUser(this.settings.type === 'upstream');
    logger.info({ ...facts, auth: this.settings.type }, 'login');
    events.login.publish({ result: 'accepted' });
    return { reply, user: credentials.username };
  }

  /** Shutdown: the failed-login store's connection (Redis) is let go. */
  close(): Promise<void> {
    return this.failures.close();
  }

  private async checkFile(credentials: Credentials): Promise<SmtpReply> {
    const user = await this.users!.verify(credentials.username, credentials.password);
    return user ? replies.loginAccepted : replies.loginFailed;
  }

  /**
   * The upstream session is opened (or taken up again after a failed try) for this login; its
   * link settings require STARTTLS (src/runtime.ts), so the password never crosses in clear.
   */
  private async checkUpstream(credentials: Credentials, context: LoginContext): Promise<SmtpReply> {
    const client = await context.link.begin(context.identity, context.signal);
    const reply = await relayLogin(client, credentials);
    context.link.noteReply(reply);
    return reply;
  }
}
