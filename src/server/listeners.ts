import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { ListenerAuth } from '../auth/listener-auth.js';
import type { Config, ListenConfig } from '../config/load.js';
import type { Screening } from '../screen/screening.js';
import type { Runtime } from '../runtime.js';
import { sessionContext } from '../session/session-context.js';
import type { Capabilities } from '../upstream/capabilities.js';
import { Listener } from './listener.js';

/**
 * Screening is for strangers (port 25). A submission listener's clients are our users, often on
 * dynamic addresses that DNS lists such as Spamhaus PBL list on purpose, and they log in: the
 * failed-login limits and the account limits (src/outbound/) guard it instead, as Postfix's
 * submission service usually runs without postscreen and DNSBL checks.
 */
function screenedBy(listener: ListenConfig, screening: Screening | undefined): Screening | undefined {
  return listener.role === 'submission' ? undefined : screening;
}

/**
 * Every listener of `listen`, each with its role and, for submission, its logins (the users
 * file is read here, so a bad one stops the start). They share the runtime: a session takes
 * its listener's upstream settings from it (src/runtime.ts). Started, reconfigured, drained
 * and told the upstream's extensions together.
 */
export class Listeners {
  readonly all: readonly Listener[];
  private readonly auths: ListenerAuth[] = [];

  constructor(config: Config, runtime: Runtime, logger: Logger) {
    this.all = config.listeners.map((settings, index) => {
      const auth = settings.auth && new ListenerAuth(settings.auth, logger);
      if (auth) this.auths.push(auth);
      const entry = { index, ...(auth ? { auth } : {}) };
      const newSession = (session: Parameters<typeof sessionContext>[1], sessionLogger: Logger, screen: Parameters<Runtime['newSession']>[1]) =>
        runtime.newSession(sessionLogger, screen, { ...entry, context: sessionContext(settings.role, session) });
      return new Listener(config, newSession, logger, screenedBy(settings, runtime.screening), settings);
    });
  }

  /** Binds them in order; the first one's address is the proxy's `address`. */
  async listen(): Promise<AddressInfo[]> {
    const addresses: AddressInfo[] = [];
    for (const listener of this.all) addresses.push(await listener.listen());
    return addresses;
  }

  updateUpstreamCapabilities(capabilities: Capabilities): void {
    for (const listener of this.all) listener.updateUpstreamCapabilities(capabilities);
  }

  reconfigure(config: Config, screening: Screening | undefined): void {
    this.all.forEach((listener, index) => listener.reconfigure(config, screenedBy(config.listeners[index] ?? config.listen, screening)));
  }

  /** Drains every listener (Listener.drain), then lets the logins' stores go. */
  async drain(timeout: number): Promise<void> {
    await Promise.all(this.all.map((listener) => listener.drain(timeout)));
    await Promise.all(this.auths.map((auth) => auth.close()));
  }
}
