import cluster from 'node:cluster';
import type { Logger } from 'pino';
import {
  RateLimiterCluster,
  RateLimiterClusterMaster,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from 'rate-limiter-flexible';
import { z } from 'zod';
import { duration } from '../config/units.js';
import { acquireRedis, releaseRedis, servingLocally } from './rate-limit-redis.js';

/**
 * Counted in whole seconds: rate-limiter-flexible keeps its windows in seconds and Redis
 * expires keys by the second, so 1500ms would mean 1.5 s in memory and 1 s in Redis.
 */
export const limitWindow = duration.refine((ms) => ms >= 1000 && ms % 1000 === 0, 'a whole number of seconds, at least 1s');

/** Where counts are kept, as configured next to the limits that use it. */
export const limitStoreKeys = {
  /** memory: one proxy (all its workers together); redis: every instance using that Redis. */
  store: z.enum(['memory', 'redis']).default('memory'),
  redis: z
    .strictObject({
      url: z.string().min(1).default('redis://127.0.0.1:6379'),
      /** A Redis slower than this counts as down for that call: local limits serve it. */
      timeout: duration.refine((ms) => ms > 0, 'more than 0').default(500),
    })
    .prefault({}),
};

export interface LimitStore {
  readonly store: 'memory' | 'redis';
  readonly redis: { readonly url: string; readonly timeout: number };
}

/** At most `limit` events per `window` ms for one key; 0 is no limit. */
export interface LimitSpec {
  readonly limit: number;
  readonly window: number;
}

/** A master answering the workers' limiters, one per primary; made on first call. */
let primary: RateLimiterClusterMaster | undefined;

/**
 * Called in the primary of a multi-worker proxy before it forks: the workers' memory limits
 * are counted here, once for the whole proxy, or N workers would allow N times the limit.
 */
export function startRateLimitPrimary(): void {
  primary ??= new RateLimiterClusterMaster();
}

/** How long a worker waits for the primary's count before letting the event through. */
const PRIMARY_TIMEOUT = 1000;
/** Unexpected limiter failures are logged at most this often; the event is let through. */
const FAILURE_LOG_INTERVAL = 60_000;

type Local = InstanceType<ReturnType<typeof servingLocally>>;

interface Limiter {
  readonly limiter: RateLimiterAbstract;
  /** Set with store redis: where calls go while Redis is down or slow. */
  readonly fallback?: Local;
}

/**
 * Named limits kept in one store (memory, the cluster primary's memory, or Redis with local
 * limits while it is down). consume() counts one event and says whether it is over the limit
 * (exhausted() asks the same without counting);
 * a limiter that fails lets the event through: a limit is protection, never a reason to
 * tempfail all mail. `what` names the limits in log lines (rate limits, account limits).
 */
export class LimiterSet<Name extends string> {
  private readonly limiters = new Map<Name, Limiter>();
  private readonly redisConnected: Promise<void>;
  private redisDown = false;
  private lastFailureLog = -Infinity;

  private constructor(
    private readonly what: string,
    prefix: string,
    limits: Readonly<Record<Name, LimitSpec>>,
    private readonly store: LimitStore,
    private readonly logger: Logger,
    clustered: boolean,
  ) {
    const redis = store.store === 'redis' ? acquireRedis(store.redis.url, store.redis.timeout) : undefined;
    this.redisConnected = redis?.firstAttempt ?? Promise.resolve();
    for (const name of Object.keys(limits) as Name[]) {
      const { limit, window: ms } = limits[name];
      if (limit === 0) continue;
      const options = { keyPrefix: `${prefix}:${name}`, points: limit, duration: ms / 1000 };
      const Local = clustered ? RateLimiterCluster : RateLimiterMemory;
      // The cluster primary keeps the options it first saw for a prefix: a reload's new limit needs a prefix of its own.
      const local = { ...options, keyPrefix: `${options.keyPrefix}:${limit}/${ms}`, timeoutMs: PRIMARY_TIMEOUT };
      if (!redis) {
        this.limiters.set(name, { limiter: new Local(local) });
        continue;
      }
      const fallback = new (servingLocally(Local))(local);
      const limiter = new RateLimiterRedis({ ...options, storeClient: redis.client, rejectIfRedisNotReady: true, insuranceLimiter: fallback });
      this.limiters.set(name, { limiter, fallback });
    }
  }

  /**
   * `prefix` keeps the keys of one set apart from another's in a shared store. `clustered`
   * (default: whether this process is a node:cluster worker) counts memory limits in the
   * primary, which must have called startRateLimitPrimary().
   */
  static create<Name extends string>(
    what: string,
    prefix: string,
    limits: Readonly<Record<Name, LimitSpec>>,
    store: LimitStore,
    logger: Logger,
    options: { clustered?: boolean } = {},
  ): LimiterSet<Name> {
    return new LimiterSet<Name>(what, prefix, limits, store, logger, options.clustered ?? cluster.isWorker);
  }

  /** Counts one event; true when it is over the limit. */
  async consume(name: Name, key: string): Promise<boolean> {
    const entry = this.limiters.get(name);
    if (!entry) return false;
    await this.redisConnected;
    // One object per call: the fallback recognises the calls it served by it.
    const options = {};
    try {
      await entry.limiter.consume(key, 1, options);
      return false;
    } catch (error) {
      if (error instanceof RateLimiterRes) return true;
      this.failed(name, error);
      return false;
    } finally {
      if (entry.fallback) this.noteRedis(entry.fallback.servedLocally(options));
    }
  }

  /**
   * Whether `key` has used up its limit in the current window, without counting an event: for
   * limits that count only some events (failed logins) but hold back every later one.
   */
  async exhausted(name: Name, key: string): Promise<boolean> {
    const entry = this.limiters.get(name);
    if (!entry) return false;
    await this.redisConnected;
    const options = {};
    try {
      const seen = await entry.limiter.get(key, options);
      return seen !== null && seen.remainingPoints <= 0;
    } catch (error) {
      this.failed(name, error);
      return false;
    } finally {
      if (entry.fallback) this.noteRedis(entry.fallback.servedLocally(options));
    }
  }

  async close(): Promise<void> {
    if (this.store.store === 'redis') releaseRedis(this.store.redis.url);
  }

  private noteRedis(down: boolean): void {
    if (down === this.redisDown) return;
    this.redisDown = down;
    const redis = this.store.redis.url.replace(/\/\/[^@/]*@/, '//');
    if (down) {
      this.logger.warn({ redis }, `${this.what}: Redis is down or slow; each instance counts on its own until it is back`);
    } else {
      this.logger.info({ redis }, `${this.what}: Redis is back; limits are shared again`);
    }
  }

  private failed(name: Name, error: unknown): void {
    const now = Date.now();
    if (now - this.lastFailureLog < FAILURE_LOG_INTERVAL) return;
    this.lastFailureLog = now;
    this.logger.error({ limit: name, err: error }, `${this.what}: could not count; letting the client through`);
  }
}
