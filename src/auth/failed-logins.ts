import cluster from 'node:cluster';
import type { Logger } from 'pino';
import { RateLimiterCluster, RateLimiterMemory, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { clientKey } from '../screen/rate-limit-key.js';
import type { FailedLoginSettings } from './config.js';

/** How long a worker waits for the cluster primary's count before letting the login be tried. */
const PRIMARY_TIMEOUT = 1000;

type Scope = 'address' | 'user';

/**
 * Failed logins per client address and per user, counted with rate-limiter-flexible as
 * screening's limits are (in the cluster primary when there are workers, so the limit is the
 * whole proxy's). Only failures count: a user who logs in often is never held back. A limiter
 * that fails lets the login be tried: the password check still stands.
 */
export class FailedLogins {
  private readonly limiters = new Map<Scope, { limiter: RateLimiterAbstract; limit: number }>();

  constructor(
    private readonly settings: FailedLoginSettings,
    private readonly logger: Logger,
    clustered = cluster.isWorker,
  ) {
    const scopes = [['address', settings.perAddress], ['user', settings.perUser]] as const;
    for (const [scope, { limit, window }] of scopes) {
      if (limit === 0) continue;
      // The cluster primary keeps the options it first saw for a prefix, so the prefix names them.
      const options = { keyPrefix: `ssp-auth:${scope}:${limit}/${window}`, points: limit, duration: window / 1000, timeoutMs: PRIMARY_TIMEOUT };
      this.limiters.set(scope, { limiter: clustered ? new RateLimiterCluster(options) : new RateLimiterMemory(options), limit });
    }
  }

  /** Which count is used up ('address' first), or undefined when the login may be tried. */
  async overLimit(address: string, user: string): Promise<Scope | undefined> {
    for (const [scope, key] of this.keys(address, user)) {
      const entry = this.limiters.get(scope);
      if (!entry) continue;
      try {
        const seen = await entry.limiter.get(key);
        if (seen && seen.consumedPoints >= entry.limit) return scope;
      } catch (error) {
        this.logger.error({ err: error, scope }, 'failed-login limits: could not read the count; the login is tried');
      }
    }
    return undefined;
  }

  /** Counts one failed login against the client's address and the user it tried. */
  async failed(address: string, user: string): Promise<void> {
    await Promise.all(this.keys(address, user).map(async ([scope, key]) => {
      try {
        await this.limiters.get(scope)?.limiter.penalty(key, 1);
      } catch (error) {
        this.logger.error({ err: error, scope }, 'failed-login limits: could not count a failure');
      }
    }));
  }

  private keys(address: string, user: string): (readonly [Scope, string])[] {
    // Users are counted case-blind: a guesser varying case gets no fresh count.
    return [['address', clientKey(address, this.settings.ipv6Prefix)], ['user', user.toLowerCase()]];
  }
}
