import type { Logger } from 'pino';
import { UpstreamClosedError, UpstreamRefusedError } from '../errors.js';
import { isPositive } from '../smtp/reply.js';
import type { UpstreamClient, UpstreamOptions } from '../upstream/client.js';
import type { SmtpReply } from '../smtp/reply.js';
import { xclientAttributes, type ClientIdentity } from './client-identity.js';
import type { UpstreamPool } from './upstream-pool.js';

export interface UpstreamLinkSettings {
  readonly options: Omit<UpstreamOptions, 'signal'>;
  readonly xclient: boolean;
}

let warnedNoXclient = false;

/**
 * One client's session with the upstream: taken from the pool (or opened) at the client's
 * first MAIL, never for connections that do not get that far; reused by the client's later
 * transactions with RSET between them; opened again if the upstream went away in between;
 * given back to the pool when the client leaves, unless something went wrong on it.
 */
export class UpstreamLink {
  private client: UpstreamClient | undefined;
  private inTransaction = false;
  /** The upstream refused something on this session: it is not handed to another client. */
  private refused = false;

  constructor(
    private readonly settings: UpstreamLinkSettings,
    private readonly logger: Logger,
    private readonly pool: UpstreamPool,
  ) {}

  /** An upstream session ready for MAIL, outside any transaction. */
  async begin(identity: ClientIdentity, signal: AbortSignal): Promise<UpstreamClient> {
    if (this.client?.closed) {
      this.client = undefined;
      this.inTransaction = false;
    }
    if (this.client && this.inTransaction) await this.reset();
    this.client ??= await this.open(identity, signal);
    return this.client;
  }

  /** The upstream session of the transaction under way. */
  current(): UpstreamClient {
    if (!this.client || this.client.closed) throw new UpstreamClosedError('upstream session lost mid-transaction');
    return this.client;
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

  /** The client left: the session goes back to the pool if fit for another client; never throws. */
  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await this.pool.release(client, !this.inTransaction && !this.refused);
  }

  private async open(identity: ClientIdentity, signal: AbortSignal): Promise<UpstreamClient> {
    const { client } = await this.pool.acquire({ ...this.settings.options, signal });
    try {
      if (this.settings.xclient) await this.passClient(client, identity);
      return client;
    } catch (error) {
      client.destroy();
      throw error;
    }
  }

  private async passClient(client: UpstreamClient, identity: ClientIdentity): Promise<void> {
    if (client.capabilities.xclientAttributes.size === 0) {
      if (!warnedNoXclient) {
        warnedNoXclient = true;
        this.logger.warn('upstream does not offer XCLIENT: it sees the proxy as the client (see README, "Relay permissions")');
      }
      return;
    }
    const attributes = await xclientAttributes(identity);
    const reply = await client.xclient(attributes, identity.hostNameAppearsAs || this.settings.options.localName);
    if (!isPositive(reply)) {
      // Going on without XCLIENT would apply the upstream's rules to the proxy's address
      // (often a trusted one), so fail closed and say how to fix it.
      throw new UpstreamRefusedError(
        'upstream refused XCLIENT: add the proxy to smtpd_authorized_xclient_hosts, or set upstream.xclient: false',
        reply,
      );
    }
  }
}
