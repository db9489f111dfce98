import { Redis } from 'ioredis';
import type { RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';

interface Shared {
  readonly redis: SharedRedis;
  users: number;
}

export interface SharedRedis {
  readonly client: Redis;
  /**
   * Settles once the first connection is made, or fails, or `timeout` passes. Without an
   * offline queue, commands sent before that would all fail and go to local limits at start-up.
   */
  readonly firstAttempt: Promise<void>;
}

/**
 * One Redis connection per process and URL, however many sessions and limiters use it: a
 * connection per SMTP session runs Redis out of clients under exactly the flood the limits
 * are there for.
 */
const clients = new Map<string, Shared>();

/**
 * The shared client for `url`. No offline queue and short timeouts: while Redis is down or
 * slow a command fails at once (or after `timeout`) and the limiter falls back to local
 * limits, instead of holding every SMTP session until Redis returns.
 */
export function acquireRedis(url: string, timeout: number): SharedRedis {
  let shared = clients.get(url);
  if (!shared) {
    const client = new Redis(url, {
      enableOfflineQueue: false,
      commandTimeout: timeout,
      connectTimeout: Math.max(timeout, 1000),
      maxRetriesPerRequest: 0,
      // Keeps trying in the background, at most every 2 s, so the shared limits come back by themselves.
      retryStrategy: (times) => Math.min(times * 100, 2000),
    });
    // Without a listener ioredis prints every failed reconnect to stderr; the fallback is logged instead.
    client.on('error', () => {});
    const firstAttempt = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeout).unref();
      const settle = () => {
        clearTimeout(timer);
        resolve();
      };
      client.once('ready', settle).once('error', settle).once('end', settle);
    });
    shared = { redis: { client, firstAttempt }, users: 0 };
    clients.set(url, shared);
  }
  shared.users++;
  return shared.redis;
}

export function releaseRedis(url: string): void {
  const shared = clients.get(url);
  if (!shared || --shared.users > 0) return;
  clients.delete(url);
  shared.redis.client.disconnect();
}

/** A limiter class, memory or cluster, as rate-limiter-flexible builds them from options. */
type LimiterClass = new (...args: any[]) => RateLimiterAbstract;

/**
 * The local limiter to hand RateLimiterRedis as its insuranceLimiter: it serves the calls Redis
 * could not and remembers which (by their options object, one per call), so the caller can
 * tell when limits stopped, or started again, being shared between instances.
 */
export function servingLocally<Base extends LimiterClass>(base: Base) {
  return class LocalFallback extends base {
    private readonly served = new WeakSet<object>();

    /** Did this limiter serve the call made with `options`? */
    servedLocally(options: object): boolean {
      return this.served.has(options);
    }

    override consume(key: string | number, points?: number, options: Record<string, unknown> = {}): Promise<RateLimiterRes> {
      this.served.add(options);
      return super.consume(key, points, options);
    }
  };
}
