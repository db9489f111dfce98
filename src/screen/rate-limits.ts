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
import { events } from '../observe/events.js';
import type { SmtpReply } from '../smtp/reply.js';
import {
  tooManyConnectionsReply,
  tooManyRecipientsFromSenderReply,
  tooManyRecipientsReply,
  tooMuchMailReply,
} from '../smtp/replies.js';
import { unmapIPv4 } from './ip-address.js';
import { clientKey } from './rate-limit-key.js';
import { acquireRedis, releaseRedis, servingLocally } from './rate-limit-redis.js';

/**
 * Counted in whole seconds: rate-limiter-flexible keeps its windows in seconds and Redis
 * expires keys by the second, so 1500ms would mean 1.5 s in memory and 1 s in Redis.
 */
const window = duration.refine((ms) => ms >= 1000 && ms % 1000 === 0, 'a whole number of seconds, at least 1s');

/**
 * At most `limit` events per `window` for one key; 0 is no limit. Off by default, as in
 * Postfix (smtpd_client_*_rate_limit = 0), whose anvil_rate_time_unit (60s) is the window.
 */
const limitSchema = z
  .strictObject({
    limit: z.number().int().min(0).default(0),
    window: window.default(60_000),
  })
  .prefault({});

export const rateLimitsSchema = z
  .strictObject({
    /** memory: one proxy (all its workers together); redis: every instance using that Redis. */
    store: z.enum(['memory', 'redis']).default('memory'),
    redis: z
      .strictObject({
        url: z.string().min(1).default('redis://127.0.0.1:6379'),
        /** A Redis slower than this counts as down for that call: local limits serve it. */
        timeout: duration.refine((ms) => ms > 0, 'more than 0').default(500),
      })
      .prefault({}),
    /** IPv6 clients are counted per network of this many bits (one host often has a /64). */
    ipv6Prefix: z.number().int().min(1).max(128).default(64),
    /** Connections per client address (smtpd_client_connection_rate_limit). */
    connections: limitSchema,
    /** MAIL commands per client address (smtpd_client_message_rate_limit). */
    messages: limitSchema,
    /** RCPT commands per client address (smtpd_client_recipient_rate_limit). */
    recipients: limitSchema,
    /** RCPT commands per envelope sender, whatever client sends them; the null sender is not counted. */
    recipientsPerSender: limitSchema,
  })
  .prefault({});

export type RateLimitSettings = z.output<typeof rateLimitsSchema>;

type LimitName = 'connections' | 'messages' | 'recipients' | 'recipientsPerSender';
const LIMIT_NAMES: readonly LimitName[] = ['connections', 'messages', 'recipients', 'recipientsPerSender'];

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
 * Per-client rate limits with Postfix anvil's refusals. Each check counts one event and
 * returns undefined while under the limit, else the reply to refuse it with. A limiter that
 * fails (no answer from the primary) lets the event through: a limit is protection, never a
 * reason to tempfail all mail.
 */
export class RateLimits {
  private readonly limiters = new Map<LimitName, Limiter>();
  private readonly redisConnected: Promise<void>;
  private redisDown = false;
  private lastFailureLog = -Infinity;

  private constructor(
    private readonly settings: RateLimitSettings,
    private readonly logger: Logger,
    clustered: boolean,
  ) {
    const redis = settings.store === 'redis' ? acquireRedis(settings.redis.url, settings.redis.timeout) : undefined;
    this.redisConnected = redis?.firstAttempt ?? Promise.resolve();
    for (const name of LIMIT_NAMES) {
      const { limit, window: ms } = settings[name];
      if (limit === 0) continue;
      const options = { keyPrefix: `ssp-rl:${name}`, points: limit, duration: ms / 1000 };
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
   * `clustered` (default: whether this process is a node:cluster worker) counts memory limits
   * in the primary, which must have called startRateLimitPrimary().
   */
  static create(settings: RateLimitSettings, logger: Logger, options: { clustered?: boolean } = {}): RateLimits {
    return new RateLimits(settings, logger, options.clustered ?? cluster.isWorker);
  }

  /** At connect, before the banner: 421, and the connection is closed. */
  async connection(address: string): Promise<SmtpReply | undefined> {
    return (await this.consume('connections', this.key(address))) ? tooManyConnectionsReply(unmapIPv4(address)) : undefined;
  }

  /** At MAIL: 450 for this transaction. */
  async message(address: string): Promise<SmtpReply | undefined> {
    return (await this.consume('messages', this.key(address))) ? tooMuchMailReply(unmapIPv4(address)) : undefined;
  }

  /**
   * At RCPT: both counts go up; the client's own limit is named first. Senders are counted
   * case-blind (a spammer varying case must not get a fresh count); the null sender (bounces,
   * from anyone) is not counted by sender.
   */
  async recipient(address: string, sender: string): Promise<SmtpReply | undefined> {
    const [byClient, bySender] = await Promise.all([
      this.consume('recipients', this.key(address)),
      sender === '' ? false : this.consume('recipientsPerSender', sender.toLowerCase()),
    ]);
    if (byClient) return tooManyRecipientsReply(unmapIPv4(address));
    return bySender ? tooManyRecipientsFromSenderReply(sender) : undefined;
  }

  async close(): Promise<void> {
    if (this.settings.store === 'redis') releaseRedis(this.settings.redis.url);
  }

  private key(address: string): string {
    return clientKey(address, this.settings.ipv6Prefix);
  }

  /** Counts one event; true when it is over the limit. */
  private async consume(name: LimitName, key: string): Promise<boolean> {
    const entry = this.limiters.get(name);
    if (!entry) return false;
    await this.redisConnected;
    // One object per call: the fallback recognises the calls it served by it.
    const options = {};
    try {
      await entry.limiter.consume(key, 1, options);
      return false;
    } catch (error) {
      if (error instanceof RateLimiterRes) {
        events.screen.publish({ limit: name });
        return true;
      }
      this.failed(name, error);
      return false;
    } finally {
      if (entry.fallback) this.noteRedis(entry.fallback.servedLocally(options));
    }
  }

  private noteRedis(down: boolean): void {
    if (down === this.redisDown) return;
    this.redisDown = down;
    const redis = this.settings.redis.url.replace(/\/\/[^@/]*@/, '//');
    if (down) {
      this.logger.warn({ redis }, 'rate limits: Redis is down or slow; each instance counts on its own until it is back');
    } else {
      this.logger.info({ redis }, 'rate limits: Redis is back; limits are shared again');
    }
  }

  private failed(name: LimitName, error: unknown): void {
    const now = Date.now();
    if (now - this.lastFailureLog < FAILURE_LOG_INTERVAL) return;
    this.lastFailureLog = now;
    this.logger.error({ limit: name, err: error }, 'rate limits: could not count; letting the client through');
  }
}
