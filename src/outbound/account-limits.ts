import type { Logger } from 'pino';
import { accountMessageLimitReply, accountRecipientLimitReply } from '../smtp/replies.js';
import type { SmtpReply } from '../smtp/reply.js';
import { LimiterSet } from '../screen/limiter-set.js';
import type { OutboundSettings } from './config.js';

export type AccountLimitName = 'messagesPerHour' | 'messagesPerDay' | 'recipientsPerHour' | 'recipientsPerDay';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A refusal by an account limit: which one, for the log line and the metric. */
export interface OverLimit {
  readonly limit: AccountLimitName;
  readonly reply: SmtpReply;
}

/**
 * Messages and recipients per authenticated account, per hour and per day, in the store the
 * config names (shared by every instance with Redis). Each check counts one event in both
 * windows, so a refused attempt counts too (as Postfix's anvil does): an account that keeps
 * trying stays refused until its window ends. The hour is named first when both are reached.
 */
export class AccountLimits {
  private constructor(
    private readonly limits: LimiterSet<AccountLimitName>,
    private readonly settings: OutboundSettings['limits'],
  ) {}

  static create(settings: OutboundSettings['limits'], logger: Logger, options: { clustered?: boolean } = {}): AccountLimits {
    const { messagesPerHour, messagesPerDay, recipientsPerHour, recipientsPerDay } = settings;
    const limits = {
      messagesPerHour: { limit: messagesPerHour, window: HOUR },
      messagesPerDay: { limit: messagesPerDay, window: DAY },
      recipientsPerHour: { limit: recipientsPerHour, window: HOUR },
      recipientsPerDay: { limit: recipientsPerDay, window: DAY },
    };
    return new AccountLimits(LimiterSet.create('account limits', 'ssp-acct', limits, settings, logger, options), settings);
  }

  /** At MAIL. */
  message(login: string): Promise<OverLimit | undefined> {
    return this.check(login, 'messagesPerHour', 'messagesPerDay', accountMessageLimitReply);
  }

  /** At RCPT. */
  recipient(login: string): Promise<OverLimit | undefined> {
    return this.check(login, 'recipientsPerHour', 'recipientsPerDay', accountRecipientLimitReply);
  }

  close(): Promise<void> {
    return this.limits.close();
  }

  private async check(
    login: string,
    hourly: AccountLimitName,
    daily: AccountLimitName,
    reply: (limit: number, per: string) => SmtpReply,
  ): Promise<OverLimit | undefined> {
    // Case-blind, as in the senders map: a mail program may send the login in any case.
    const key = login.toLowerCase();
    const [hour, day] = await Promise.all([this.limits.consume(hourly, key), this.limits.consume(daily, key)]);
    if (hour) return { limit: hourly, reply: reply(this.settings[hourly], 'hour') };
    return day ? { limit: daily, reply: reply(this.settings[daily], 'day') } : undefined;
  }
}
