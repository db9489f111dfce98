import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import { blockedAtRcptReply, blockedReply } from '../smtp/replies.js';
import { ACCESS_LIST_NAME, AccessList } from './access-list.js';
import { DnsLists } from './dns-lists.js';
import { unmapIPv4 } from './ip-address.js';
import { RateLimits } from './rate-limits.js';
import { Screening } from './screening.js';

/** The screening stage of one proxy process from `screening:`, or undefined without it. */
export function buildScreening(config: Config, logger: Logger): { screening: Screening; close(): Promise<void> } | undefined {
  const settings = config.screening;
  if (!settings) return undefined;
  const rateLimits = RateLimits.create(settings.rateLimits, logger);
  const reply = (address: string, list: string, when: 'connect' | 'rcpt') =>
    when === 'connect' ? blockedReply(unmapIPv4(address), list) : blockedAtRcptReply(unmapIPv4(address), list);
  const screening = new Screening(
    {
      action: settings.action,
      access: new AccessList(settings.access),
      dnsLists: new DnsLists(settings.dnsLists, logger),
      rateLimits,
      tarpit: settings.tarpit,
      replies: {
        listed: reply,
        denied: (address, when) => reply(address, ACCESS_LIST_NAME, when),
      },
      idleTimeout: config.limits.idleTimeout,
    },
    logger,
  );
  return { screening, close: () => rateLimits.close() };
}
