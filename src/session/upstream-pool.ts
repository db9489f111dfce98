import { events } from '../observe/events.js';
import type { UpstreamClient, UpstreamOptions } from '../upstream/client.js';

export type Connect = (options: UpstreamOptions) => Promise<UpstreamClient>;

/**
 * Upstream sessions kept open between clients. A client's session that ended cleanly (no
 * transaction open, no refusal from the upstream) waits here for the next client instead of a
 * QUIT, which spares that client a TCP connection, the banner, EHLO and STARTTLS. The next
 * client's identity is passed on with a new XCLIENT, which Postfix allows between transactions
 * and which resets its session to the greeting stage. An idle session is closed after
 * `idleTimeout`, well before the upstream's own idle limit (Postfix: 300 s).
 */
export class UpstreamPool {
  private readonly idle: { client: UpstreamClient; timer: NodeJS.Timeout }[] = [];
  private closing = false;

  constructor(
    private readonly connect: Connect,
    private readonly size: number,
    private readonly idleTimeout: number,
    /** Whether an idle session may still serve a client (src/upstream/servers.ts: its server is still a first choice). */
    private readonly fits: (client: UpstreamClient) => boolean = () => true,
  ) {}

  /** An idle session that is still open, or a new one. */
  async acquire(options: UpstreamOptions): Promise<{ client: UpstreamClient; reused: boolean }> {
    for (let entry = this.idle.pop(); entry; entry = this.idle.pop()) {
      events.upstreamSession.publish({ event: 'unpooled' });
      clearTimeout(entry.timer);
      if (entry.client.closed) continue;
      if (this.fits(entry.client)) return { client: entry.client, reused: true };
      void entry.client.quit();
    }
    return { client: await this.open(options), reused: false };
  }

  /** A new session, never an idle one: for a client a reused session could not take. */
  open(options: UpstreamOptions): Promise<UpstreamClient> {
    return this.connect(options);
  }

  /** Takes back a session its client is done with; one not fit for another client is ended. */
  async release(client: UpstreamClient, reusable: boolean): Promise<void> {
    if (!reusable || this.closing || client.closed || this.idle.length >= this.size) return client.quit();
    const entry = {
      client,
      timer: setTimeout(() => {
        const index = this.idle.indexOf(entry);
        if (index !== -1) {
          this.idle.splice(index, 1);
          events.upstreamSession.publish({ event: 'unpooled' });
        }
        void client.quit();
      }, this.idleTimeout),
    };
    entry.timer.unref();
    this.idle.push(entry);
    events.upstreamSession.publish({ event: 'pooled' });
  }

  /** Ends every idle session (shutdown). */
  async close(): Promise<void> {
    this.closing = true;
    const entries = this.idle.splice(0);
    await Promise.all(entries.map((entry) => {
      events.upstreamSession.publish({ event: 'unpooled' });
      clearTimeout(entry.timer);
      return entry.client.quit();
    }));
  }
}
