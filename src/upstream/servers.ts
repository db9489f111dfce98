import type { Logger } from 'pino';
import { UpstreamError, UpstreamUnavailableError } from '../errors.js';
import { events } from '../observe/events.js';
import type { UpstreamClient, UpstreamOptions } from './client.js';
import { serverLabel, type UpstreamServerConfig } from './servers-config.js';

export type OpenSession = (options: UpstreamOptions) => Promise<UpstreamClient>;

/** A probe waits this long at most for the connection and for each reply. */
const PROBE_TIMEOUT = 5000;

interface ServerState {
  readonly config: UpstreamServerConfig;
  readonly label: string;
  healthy: boolean;
}

/**
 * Which upstream MTA a new session goes to. Among the healthy servers of the best priority
 * one is drawn at random in proportion to its weight (as RFC 2782 does for SRV records):
 * every worker process chooses on its own, and a count of open sessions seen by one worker
 * (idle pooled ones included) says little about a server's load, while a weight keeps its
 * meaning (its share of new sessions) whatever the number of workers.
 *
 * A server that refuses the connection, times out or fails the greeting is marked down and
 * the next candidate is tried at once; a down server is skipped until it answers again: to
 * the periodic probe (banner, EHLO and STARTTLS as a session would, then QUIT) or as the last
 * resort when every healthy server failed too. Failover happens only here, when a session is
 * opened, before any MAIL: a message is never sent twice.
 */
export class UpstreamServers {
  readonly #servers: ServerState[];
  readonly #sessions = new WeakMap<UpstreamClient, ServerState>();
  #timer: NodeJS.Timeout | undefined;
  #probing = false;

  constructor(
    servers: readonly UpstreamServerConfig[],
    private readonly open: OpenSession,
    private readonly logger: Logger,
    private readonly random: () => number = Math.random,
  ) {
    this.#servers = servers.map((config) => ({ config, label: serverLabel(config), healthy: true }));
  }

  /** Probes every server every `interval` ms with these options (only when there are several). */
  startProbes(interval: number, options: Omit<UpstreamOptions, 'signal'>): void {
    if (this.#servers.length < 2 || this.#timer) return;
    this.#timer = setInterval(() => void this.probe(options), interval);
    this.#timer.unref();
  }

  /** A session on the first candidate that takes one; the others are tried before giving up. */
  readonly connect = async (options: UpstreamOptions): Promise<UpstreamClient> => {
    if (this.#servers.length === 1) return this.#open(this.#servers[0]!, options);
    const failures: string[] = [];
    let last: unknown;
    for (const server of this.#candidates()) {
      try {
        const client = await this.#open(server, options);
        this.#mark(server, true);
        return client;
      } catch (error) {
        // A client that left is not the server's fault, and only upstream failures fail over.
        if (options.signal?.aborted || !(error instanceof UpstreamError)) throw error;
        this.#mark(server, false, error);
        failures.push(`${server.label}: ${error.message}`);
        last = error;
      }
    }
    throw new UpstreamUnavailableError(`no upstream server took the session (${failures.join('; ')})`, { cause: last });
  };

  /**
   * Whether a pooled session may serve the next client: its server is healthy and of the best
   * priority among the healthy ones, so traffic returns to a preferred server once it is back.
   */
  readonly fits = (client: UpstreamClient): boolean => {
    const server = this.#sessions.get(client);
    if (!server || this.#servers.length === 1) return true;
    return server.healthy && server.config.priority === this.#bestPriority();
  };

  /** Servers in the order to try: healthy ones by priority, weighted random within one; then the down ones. */
  #candidates(): ServerState[] {
    const healthy = this.#servers.filter((server) => server.healthy);
    const priorities = [...new Set(healthy.map((server) => server.config.priority))].sort((a, b) => a - b);
    const ordered = priorities.flatMap((priority) => this.#weightedOrder(healthy.filter((server) => server.config.priority === priority)));
    const down = this.#servers.filter((server) => !server.healthy).sort((a, b) => a.config.priority - b.config.priority);
    return [...ordered, ...down];
  }

  /** Health as last seen, for logs and tests. */
  get states(): readonly { readonly label: string; readonly healthy: boolean }[] {
    return this.#servers.map(({ label, healthy }) => ({ label, healthy }));
  }

  /** One probe of every server at once; a round still running is not doubled. Never rejects. */
  async probe(options: Omit<UpstreamOptions, 'signal'>): Promise<void> {
    if (this.#probing) return;
    this.#probing = true;
    const bounded = {
      ...options,
      connectTimeout: Math.min(options.connectTimeout, PROBE_TIMEOUT),
      commandTimeout: Math.min(options.commandTimeout, PROBE_TIMEOUT),
    };
    try {
      await Promise.all(this.#servers.map(async (server) => {
        try {
          const client = await this.open({ ...bounded, host: server.config.host, port: server.config.port });
          await client.quit();
          this.#mark(server, true);
        } catch (error) {
          this.#mark(server, false, error);
        }
      }));
    } finally {
      this.#probing = false;
    }
  }

  close(): void {
    clearInterval(this.#timer);
  }

  async #open(server: ServerState, options: UpstreamOptions): Promise<UpstreamClient> {
    const client = await this.open({ ...options, host: server.config.host, port: server.config.port });
    this.#sessions.set(client, server);
    return client;
  }

  #mark(server: ServerState, healthy: boolean, error?: unknown): void {
    events.health.publish({ kind: 'upstream', server: server.label, healthy });
    if (server.healthy === healthy) return;
    server.healthy = healthy;
    if (healthy) this.logger.info({ upstream: server.label }, `upstream ${server.label} answers again; new sessions may go to it`);
    else this.logger.warn({ upstream: server.label, err: error }, `upstream ${server.label} failed; skipped until it passes a probe`);
  }

  #bestPriority(): number | undefined {
    let best: number | undefined;
    for (const server of this.#servers) if (server.healthy && (best === undefined || server.config.priority < best)) best = server.config.priority;
    return best;
  }

  /** Draws without replacement, each pick in proportion to its weight. */
  #weightedOrder(group: ServerState[]): ServerState[] {
    const left = [...group];
    const order: ServerState[] = [];
    while (left.length > 0) {
      const total = left.reduce((sum, server) => sum + server.config.weight, 0);
      let point = this.random() * total;
      const index = left.findIndex((server) => (point -= server.config.weight) < 0);
      order.push(...left.splice(index === -1 ? left.length - 1 : index, 1));
    }
    return order;
  }
}
