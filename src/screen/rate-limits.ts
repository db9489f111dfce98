import type { Logger } from 'pino';
import { z } from 'zod';
import { events } from '../observe/events.js';
import type { SmtpReply } from '../smtp/reply.js';
import {
  tooManyConnectionsReply,
  tooManyRecipientsFromSenderReply,
  tooManyRecipientsReply,
  tooMuchMailReply,
} from '../smtp/replies.js';
import { unmapIPv4 } from './ip-address.js';
import { limitStoreKeys, limitWindow as window, LimiterSet } from './limiter-set.js';
import { clientKey } from './rate-limit-key.js';

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
    ...limitStoreKeys,
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

/**
 * Per-client rate limits with Postfix anvil's refusals. Each check counts one event and
 * returns undefined while under the limit, else the reply to refuse it with (see LimiterSet:
 * a failing store lets the event through).
 */
export class RateLimits {
  private constructor(private readonly limits: LimiterSet<LimitName>, private readonly settings: RateLimitSettings) {}

  /**
   * `clustered` (default: whether this process is a node:cluster worker) counts memory limits
   * in the primary, which must have called startRateLimitPrimary().
   */
  static create(settings: RateLimitSettings, logger: Logger, options: { clustered?: boolean } = {}): RateLimits {
    const { connections, messages, recipients, recipientsPerSender } = settings;
    const limits = { connections, messages, recipients, recipientsPerSender };
    return new RateLimits(LimiterSet.create('rate limits', 'ssp-rl', limits, settings, logger, options), settings);
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

  close(): Promise<void> {
    return this.limits.close();
  }

  private key(address: string): string {
    return clientKey(address, this.settings.ipv6Prefix);
  }

  private async consume(name: LimitName, key: string): Promise<boolean> {
    const over = await this.limits.consume(name, key);
    if (over) events.screen.publish({ limit: name });
    return over;
  }
}
