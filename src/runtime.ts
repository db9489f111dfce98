import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Config } from './config/load.js';
import { MessageSigner } from './dkim/signer.js';
import { OutboundPolicy } from './outbound/outbound-policy.js';
import { buildScreening } from './screen/build.js';
import type { ClientScreen, Screening } from './screen/screening.js';
import { messageHeaderSettings } from './message/message-headers.js';
import { noScanning } from './scan/no-scanning.js';
import type { ScannerFactory } from './scan/registry.js';
import { ScanningStage } from './scan/scanning-stage.js';
import type { ScanStage } from './scan/stage.js';
import { ForwardedClient } from './session/forwarded-client.js';
import { ProxySession, type SessionSettings } from './session/proxy-session.js';
import { UpstreamLink, type UpstreamLinkSettings } from './session/upstream-link.js';
import { UpstreamNotices } from './session/upstream-notices.js';
import { INBOUND, type SessionContext } from './session/session-context.js';
import type { ListenerAuth } from './auth/listener-auth.js';
import { ownServer, ownUpstream } from './server/listener-upstream.js';
import { UpstreamPool, type Connect } from './session/upstream-pool.js';
import { upstreamServers } from './upstream/servers-config.js';
import { UpstreamServers } from './upstream/servers.js';
import type { MemoryBudget } from './spool/memory-budget.js';

export interface RuntimeDeps {
  readonly logger: Logger;
  /** Replaces the stage built from config.scanners in every generation (tests use doubles here). */
  readonly scanStage?: ScanStage;
  readonly connect: Connect;
  /** Prepared once at start-up (spool.dir needs a restart). */
  readonly spoolDir: string;
  /** The process's memory for messages (spool.memoryTotal needs a restart). */
  readonly budget: MemoryBudget;
}

/**
 * A scan stage that counts the messages it is scanning, so a reload can close the one it
 * replaced (the scanners' connections) once its last message is decided, never under one.
 */
class CountedStage implements ScanStage {
  private inFlight = 0;
  private retired = false;

  constructor(private readonly stage: ScanningStage) {}

  async run(...args: Parameters<ScanStage['run']>): ReturnType<ScanStage['run']> {
    this.inFlight++;
    try {
      return await this.stage.run(...args);
    } finally {
      if (--this.inFlight === 0 && this.retired) void this.stage.close();
    }
  }

  /** No new message comes here; closes at once when idle, else after the last one. */
  retire(): Promise<void> {
    this.retired = true;
    return this.inFlight === 0 ? this.stage.close() : Promise.resolve();
  }
}

/** Everything one config gives a running proxy, built whole before it replaces the previous one. */
interface Generation {
  readonly config: Config;
  readonly stage: CountedStage | undefined;
  readonly session: SessionSettings;
  readonly link: UpstreamLinkSettings;
  /** Keys read again on each reload. */
  readonly signer: MessageSigner | undefined;
  readonly pool: UpstreamPool;
  /** Which upstream server each new session of the pool goes to. */
  readonly servers: UpstreamServers;
  readonly screening: { screening: Screening; close(): Promise<void> } | undefined;
  /** Senders per login and account limits, for the sessions of submission listeners. */
  readonly outbound: OutboundPolicy;
  /** Per listener (by index): its own upstream settings and pool, or undefined for the shared ones. */
  readonly listeners: readonly ({ readonly link: UpstreamLinkSettings; readonly pool: UpstreamPool } | undefined)[];
}

/** Who a new session is for: the listener (its index in config.listeners), its role and logins. */
export interface ListenerEntry {
  readonly index: number;
  readonly context: SessionContext;
  readonly auth?: ListenerAuth;
}

/**
 * The config-derived parts of a running proxy, swapped whole by a reload (src/reload.ts). A
 * new connection takes the session settings, upstream settings and pool of the generation
 * current when it connects, and keeps them; each message is scanned by the stage current
 * when it is received. What a reload replaces is closed once nothing uses it: the scan stage
 * after its last message, the upstream pool at once (its sessions in use are ended when their
 * clients leave), the rate limits after a grace.
 */
export class Runtime {
  private generation: Generation;
  private readonly notices = new UpstreamNotices();

  /** What sessions scan with: the stage of the generation current when the message arrives. */
  readonly scanStage: ScanStage = {
    run: (...args) => (this.generation.stage ?? this.deps.scanStage ?? noScanning).run(...args),
  };

  constructor(
    config: Config,
    factories: ReadonlyMap<string, ScannerFactory>,
    private readonly deps: RuntimeDeps,
  ) {
    this.generation = this.build(config, factories, undefined);
  }

  get config(): Config {
    return this.generation.config;
  }

  get linkSettings(): UpstreamLinkSettings {
    return this.generation.link;
  }

  /** Opens an upstream session as the clients' sessions are opened: on the server UpstreamServers picks. */
  get connectUpstream(): Connect {
    return this.generation.servers.connect;
  }

  get screening(): Screening | undefined {
    return this.generation.screening?.screening;
  }

  /** The session of a client that just connected, on the current generation. */
  newSession(sessionLogger: Logger, screen: ClientScreen, listener?: ListenerEntry): ProxySession {
    const { session } = this.generation;
    const { link, pool } = this.generation.listeners[listener?.index ?? 0] ?? this.generation;
    return new ProxySession({
      settings: session,
      link: new UpstreamLink(link, sessionLogger, pool),
      scanStage: this.scanStage,
      budget: this.deps.budget,
      signer: this.generation.signer,
      logger: sessionLogger,
      screen,
      context: listener?.context ?? INBOUND,
      ...(listener?.context.role === 'submission' ? { outbound: this.generation.outbound } : {}),
      ...(listener?.auth ? { auth: listener.auth } : {}),
      forwarded: new ForwardedClient(this.deps.logger, this.screening),
    });
  }

  /**
   * Builds everything from `config` and makes it current; throws (with the old generation
   * still current and untouched) when a part cannot be built.
   */
  replace(config: Config, factories: ReadonlyMap<string, ScannerFactory>): void {
    const old = this.generation;
    this.generation = this.build(config, factories, old);
    if (this.generation.pool !== old.pool) {
      void old.pool.close();
      old.servers.close();
    }
    void old.stage?.retire();
    const oldScreening = old.screening;
    // Connections screened by the old limits keep asking them at MAIL and RCPT; a call after
    // the grace finds a closed store and fails open, as a failing store always does.
    if (oldScreening) setTimeout(() => void oldScreening.close(), old.config.limits.idleTimeout).unref();
    const { outbound } = this.generation;
    setTimeout(() => void old.outbound.close(outbound), old.config.limits.idleTimeout).unref();
  }

  /** Shutdown: ends the pool's idle sessions, the scanners and the rate limits. */
  async close(): Promise<void> {
    const { pool, servers, stage, screening } = this.generation;
    servers.close();
    await pool.close();
    await stage?.retire();
    await screening?.close();
    await this.generation.outbound.close();
  }

  private build(config: Config, factories: ReadonlyMap<string, ScannerFactory>, previous: Generation | undefined): Generation {
    const { logger } = this.deps;
    const link = upstreamLinkSettings(config, this.notices);
    // First: a key that cannot be read stops the build before anything needs closing.
    const signer = config.dkim && MessageSigner.fromSettings(config.dkim);
    const sameUpstream = previous && JSON.stringify(previous.config.upstream) === JSON.stringify(config.upstream);
    const built = this.deps.scanStage || config.scanners.length === 0 ? undefined : ScanningStage.fromConfig(config, factories, logger);
    let screening;
    try {
      screening = buildScreening(config, logger);
    } catch (error) {
      void built?.close();
      throw error;
    }
    const servers = sameUpstream ? previous.servers : new UpstreamServers(upstreamServers(config.upstream), this.deps.connect, logger);
    servers.startProbes(config.upstream.probeInterval, link.options);
    return {
      config,
      stage: built && new CountedStage(built),
      session: {
        spool: { ...config.spool, dir: this.deps.spoolDir },
        bareLineFeed: config.limits.bareLineFeed,
        upstreamKeepAlive: { interval: config.upstream.keepAlive, commandTimeout: config.upstream.commandTimeout },
        headers: messageHeaderSettings(config),
      },
      link,
      signer,
      // Pooled sessions were opened with the old upstream settings: new sessions use the new ones.
      pool: sameUpstream ? previous.pool : new UpstreamPool(servers.connect, config.upstream.poolSize, config.upstream.poolIdle, servers.fits),
      servers,
      screening,
      outbound: OutboundPolicy.create(config.outbound, logger, previous?.outbound),
      // A submission listener's sessions each belong to one user: a pool of none, never shared.
      listeners: config.listeners.map((listener) => {
        const upstream = ownUpstream(config, listener);
        const connect = ownServer(listener) ? this.deps.connect : servers.connect;
        return upstream && { link: upstreamLinkSettings({ ...config, upstream }, this.notices), pool: new UpstreamPool(connect, 0, upstream.poolIdle) };
      }),
    };
  }
}

function upstreamLinkSettings(config: Config, notices: UpstreamNotices): UpstreamLinkSettings {
  const { upstream, listen } = config;
  return {
    xclient: upstream.xclient,
    notices,
    options: {
      host: upstream.host,
      port: upstream.port,
      localName: upstream.helo ?? listen.hostname,
      connectTimeout: upstream.connectTimeout,
      commandTimeout: upstream.commandTimeout,
      dataTimeout: upstream.dataTimeout,
      chunking: upstream.chunking === 'auto',
      tls: {
        mode: upstream.starttls,
        rejectUnauthorized: upstream.tlsVerify,
        ...(upstream.tlsCa ? { ca: readFileSync(upstream.tlsCa) } : {}),
      },
    },
  };
}
