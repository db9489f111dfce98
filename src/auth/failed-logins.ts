import type { Logger } from 'pino';
import { clientKey } from '../screen/rate-limit-key.js';
import { LimiterSet } from '../screen/limiter-set.js';
import type { FailedLoginSettings } from './config.js';

type Scope = 'address' | 'user';

/**
 * Failed logins per client address and per user, in the store the settings name (memory, all
 * workers together; or Redis, shared by every instance), as screening's limits are kept. Only
 * failures count: a user who logs in often is never held back. A store that fails lets the
 * login be tried: the password check still stands.
 */
export class FailedLogins {
  private readonly limits: LimiterSet<Scope>;

  constructor(
    private readonly settings: FailedLoginSettings,
    logger: Logger,
    options: { clustered?: boolean } = {},
  ) {
    const limits = { address: settings.perAddress, user: settings.perUser };
    this.limits = LimiterSet.create('failed-login limits', 'ssp-auth', limits, settings, logger, options);
  }

  /** Which count is used up ('address' first), or undefined when the login may be tried. */
  async overLimit(address: string, user: string): Promise<Scope | undefined> {
    for (const [scope, key] of this.keys(address, user)) {
      if (await this.limits.exhausted(scope, key)) return scope;
    }
    return undefined;
  }

  /** Counts one failed login against the client's address and the user it tried. */
  async failed(address: string, user: string): Promise<void> {
    await Promise.all(this.keys(address, user).map(([scope, key]) => this.limits.consume(scope, key)));
  }

  close(): Promise<void> {
    return this.limits.close();
  }

  private keys(address: string, user: string): (readonly [Scope, string])[] {
    // Users are counted case-blind: a guesser varying case gets no fresh count.
    return [['address', clientKey(address, this.settings.ipv6Prefix)], ['user', user.toLowerCase()]];
  }
}
