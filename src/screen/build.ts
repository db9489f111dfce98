import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import { AccessList, deniedReply } from './access-list.js';
import { blockedClientReply } from './blocked-reply.js';
import { DnsLists } from './dns-lists.js';
import { RateLimits } from './rate-limits.js';
import { Screening } from './screening.js';

/** The screening stage of one proxy process from `screening:`, or undefined without it. */
export function buildScreening(config: Config, logger: Logger): { screening: Screening; close(): Promise<void> } | undefined {
  const settings = config.screening;
  if (!settings) return undefined;
  const rateLimits = RateLimits.create(settings.rateLimits, logger);
  const action = (when: 'connect' | 'rcpt') => (when === 'connect' ? 'drop' : 'enforce');
  const screening = new Screening(
    {
      action: settings.action,
      access: new AccessList(settings.access),
      dnsLists: new DnsLists(settings.dnsLists, logger),
      rateLimits,
      tarpit: settings.tarpit,
      replies: {
        listed: (address, list, when) => blockedClientReply(address, list, action(when)),
        denied: (address, when) => deniedReply(address, action(when)),
      },
      idleTimeout: config.limits.idleTimeout,
    },
    logger,
  );
  return { screening, close: () => rateLimits.close() };
}
