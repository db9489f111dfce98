import type { Logger } from 'pino';
import { UpstreamClosedError, UpstreamError, UpstreamRefusedError, UpstreamXclientMissingError } from '../errors.js';
import { isPositive } from '../smtp/reply.js';
import type { UpstreamClient, UpstreamOptions } from '../upstream/client.js';
import type { SmtpReply } from '../smtp/reply.js';
import { xclientAttributes, type ClientIdentity } from './client-identity.js';
import { forwardClient, type ForwardableIdentity } from './client-forwarding.js';
import type { UpstreamNotices } from './upstream-notices.js';
import type { UpstreamPool } from './upstream-pool.js';
import { withoutIpv6 } from './xclient-values.js';

export interface UpstreamLinkSettings {
  readonly options: Omit<UpstreamOptions, 'signal'>;
  /**
   * Pass every client's identity with XCLIENT; an upstream that does not take it gets no mail.
   * false: with XFORWARD before each MAIL when the upstream offers it (src/session/client-forwarding.ts).
   */
  readonly xclient: boolean;
  /** Shared by every link of one proxy: set-up problems are logged once, not per client. */
  readonly notices: UpstreamNotices;
}

/** How often the "XCLIENT not offered" error is repeated while it lasts. */
export const MISSING_XCLIENT_REPEAT = 60_000;

/**
 * Whether a session can carry a client's identity: XCLIENT offered with ADDR. When XCLIENT is
 * required and it cannot, the line for the log that says what to change (undefined otherwise).
 */
export function missingXclient(settings: UpstreamLinkSettings, client: UpstreamClient): string | undefined {
  if (!settings.xclient || client.capabilities.xclientAttributes.has('ADDR')) return undefined;
  return missingXclientMessage(settings, client);
}

function missingXclientMessage(settings: UpstreamLinkSettings, client: UpstreamClient): string {
  const seenAs = client.localAddress ?? "the proxy's address";
  return `upstream ${client.server} does not offer XCLIENT to this proxy, so every client would reach it as the proxy `
    + `(${seenAs}), which it may trust: no mail is relayed. Add ${seenAs.includes(':') ? `[${seenAs}]` : seenAs} to `
    + 'smtpd_authorized_xclient_hosts in Postfix\'s main.cf and run "postfix reload"; for an upstream without XCLIENT '
    + '(Exchange), set upstream.xclient: false';
}

type Introduction = { ok: true } | { ok: false; reason: 'not offered' } | { ok: false; reason: 'refused'; reply: SmtpReply };

/**
 * One client's session with the upstream: taken from the pool (or opened) at the client's
 * first MAIL, never for connections that do not get that far; reused by the client's later
 * transactions with RSET between them; opened again if the upstream went away in between;
 * given back to the pool when the client leaves, unless something went wrong on it or it
 * cannot be handed to another client. It speaks for exactly one client at a time: what it
 * carries over is ours (our TLS, our EHLO name before XCLIENT), never a client's.
 */
export class UpstreamLink {
  private client: UpstreamClient | undefined;
  private inTransaction = false;
  /** The upstream refused something on this session: it is not handed to another client. */
  private refused = false;
  /** The client logged in: its upstream sessions are never handed to another client. */
  private userOwned = false;
  /** The client logged in on the upstream session itself (auth: upstream): no other will do. */
  private loggedInUpstream = false;

  constructor(
    private readonly settings: UpstreamLinkSettings,
    private readonly logger: Logger,
    private readonly pool: UpstreamPool,
  ) {}

  /** An upstream session ready for MAIL, outside any transaction. */
  async begin(identity: ForwardableIdentity, signal: AbortSignal): Promise<UpstreamClient> {
    // A fresh session would not know the login, and the proxy keeps no password to repeat it.
    if (this.loggedInUpstream && (!this.client || this.client.closed)) throw new UpstreamClosedError('the upstream session the client logged in on is gone');
    if (this.client?.closed) {
      this.client = undefined;
      this.inTransaction = false;
    }
    if (this.client && this.inTransaction) await this.reset();
    this.client ??= await this.open(identity, signal);
    if (!this.settings.xclient) await forwardClient(this.client, identity, this.logger, this.settings.notices);
    return this.client;
  }

  /** The upstream session of the transaction under way. */
  current(): UpstreamClient {
    if (!this.client || this.client.closed) throw new UpstreamClosedError('upstream session lost mid-transaction');
    return this.client;
  }

  /**
   * The upstream session under way took this client's identity with XCLIENT (with
   * upstream.xclient, open() returns no session that did not), so the upstream writes the
   * client into its own Received header and ours would say it twice. XFORWARD does not count:
   * Postfix logs the client it names, but its Received header still names the proxy (seen
   * with the test Postfix's after-filter smtpd).
   */
  get carriesClient(): boolean {
    return this.settings.xclient && this.client !== undefined && !this.client.closed;
  }

  /**
   * The client logged in (src/auth/): this link's sessions are that user's, never pooled; with
   * `onUpstream` the login was made on the current session, which stays the only one.
   */
  belongToUser(onUpstream: boolean): void {
    this.userOwned = true;
    this.loggedInUpstream = onUpstream;
  }

  /** Every upstream reply on the session passes here; a refusal keeps it out of the pool. */
  noteReply(reply: SmtpReply): void {
    if (!isPositive(reply)) this.refused = true;
  }

  /** Called after an upstream command opened (MAIL accepted) or ended (final DATA reply) a transaction. */
  setInTransaction(value: boolean): void {
    this.inTransaction = value;
  }

  /** Abandons the upstream transaction (RSET); a session that fails to reset is dropped. */
  async reset(): Promise<void> {
    const client = this.client;
    if (!client || !this.inTransaction) return;
    this.inTransaction = false;
    try {
      const reply = await client.rset();
      if (isPositive(reply)) return;
      this.logger.warn({ reply }, 'upstream refused RSET; dropping the upstream session');
    } catch (error) {
      this.logger.warn({ err: error }, 'upstream RSET failed; dropping the upstream session');
    }
    this.drop();
  }

  /** Closes the upstream session at once (mid-transaction: the upstream discards the message). */
  drop(): void {
    this.client?.destroy();
    this.client = undefined;
    this.inTransaction = false;
  }

  /**
   * The client left: the session goes back to the pool if fit for another client; never throws.
   * With XCLIENT it is fit only while the upstream still offers XCLIENT on it (Postfix does
   * when the client's address is one it authorizes too), since the next client must replace
   * this one's identity before anything else.
   */
  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    const handOver = !this.userOwned && (!this.settings.xclient || client.capabilities.xclientAttributes.has('ADDR'));
    await this.pool.release(client, !this.inTransaction && !this.refused && handOver);
  }

  /**
   * A session for this client. With XCLIENT, a pooled session still speaks for its previous
   * client until the upstream has taken this client's identity on it; if it does not (Postfix
   * stops offering XCLIENT once the session's client is no longer the proxy, and refuses it),
   * the session is closed and a fresh one opened, on which XCLIENT is a must.
   */
  private async open(identity: ClientIdentity, signal: AbortSignal): Promise<UpstreamClient> {
    const options = { ...this.settings.options, signal };
    const { client, reused } = await this.pool.acquire(options);
    if (!this.settings.xclient) return client;
    if (reused) {
      const outcome = await this.introduce(client, identity).catch((error: unknown) => {
        if (error instanceof UpstreamError) return { ok: false, reason: 'failed' } as const;
        client.destroy();
        throw error;
      });
      if (outcome.ok) return client;
      this.logger.debug({ reason: outcome.reason }, 'pooled upstream session did not take the new client\'s identity; opening a fresh one');
      client.destroy();
    }
    const fresh = reused ? await this.pool.open(options) : client;
    try {
      this.mustIntroduce(fresh, await this.introduce(fresh, identity));
      return fresh;
    } catch (error) {
      fresh.destroy();
      throw error;
    }
  }

  /** On a fresh session the upstream must take the client's identity, or no mail is relayed. */
  private mustIntroduce(client: UpstreamClient, outcome: Introduction): void {
    if (outcome.ok) return;
    if (outcome.reason === 'refused') {
      throw new UpstreamRefusedError(
        'upstream refused XCLIENT: add the proxy to smtpd_authorized_xclient_hosts, or set upstream.xclient: false',
        outcome.reply,
      );
    }
    const message = missingXclientMessage(this.settings, client);
    if (this.settings.notices.due('xclient missing', MISSING_XCLIENT_REPEAT)) this.logger.error(message);
    throw new UpstreamXclientMissingError(message);
  }

  /**
   * Hands the client's identity to the upstream. An upstream that refuses IPv6 addresses
   * (Postfix with inet_protocols = ipv4) gets the client as an unknown address instead of the
   * mail being deferred for good.
   */
  private async introduce(client: UpstreamClient, identity: ClientIdentity): Promise<Introduction> {
    if (!client.capabilities.xclientAttributes.has('ADDR')) return { ok: false, reason: 'not offered' };
    const { attributes, adjusted } = await xclientAttributes(identity);
    if (adjusted.length > 0) this.logger.info({ adjusted }, `XCLIENT values changed to fit what the upstream accepts: ${adjusted.join('; ')}`);
    const helo = attributes.HELO?.startsWith('[') ? this.settings.options.localName : attributes.HELO ?? this.settings.options.localName;
    let reply = await client.xclient(attributes, helo);
    const fallback = isPositive(reply) ? undefined : withoutIpv6(attributes);
    // 501 is a syntax error in the command's values; an authorization refusal (550) is final.
    if (fallback && reply.code === 501) {
      const refusal = reply;
      reply = await client.xclient(fallback, helo);
      if (isPositive(reply) && this.settings.notices.due('no ipv6 in xclient')) {
        this.logger.warn(
          { upstreamReply: refusal },
          `upstream ${client.server} takes no IPv6 address in XCLIENT: IPv6 clients are passed as ADDR=[UNAVAILABLE] `
          + '(unknown to its access rules, trusted by none). Set inet_protocols = all in Postfix\'s main.cf to see their addresses',
        );
      }
    }
    return isPositive(reply) ? { ok: true } : { ok: false, reason: 'refused', reply };
  }
}
