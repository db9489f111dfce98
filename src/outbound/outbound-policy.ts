import type { Logger } from 'pino';
import { events } from '../observe/events.js';
import { senderNotOwnedReply } from '../smtp/replies.js';
import type { SmtpReply } from '../smtp/reply.js';
import { AccountLimits, type OverLimit } from './account-limits.js';
import type { OutboundSettings } from './config.js';
import { SenderRules } from './sender-rules.js';

/**
 * What a submission session's MAIL and RCPT must pass before they reach the upstream: the
 * sender belongs to the login (553 5.7.1), the account is under its limits (450 4.7.1). Each
 * refusal is logged with the login and counted (events.account). One per config generation;
 * the scanners' outbound thresholds are the scan stage's business.
 */
export class OutboundPolicy {
  private constructor(
    private readonly senders: SenderRules,
    private readonly limits: AccountLimits,
    /** The limits' settings, to tell whether a reload changed them. */
    private readonly limitsKey: string,
  ) {}

  /**
   * `previous`: the policy a reload replaces; unchanged limits are kept with their counts, so
   * a SIGHUP does not give every account a fresh day (in memory; Redis keeps counts anyway).
   */
  static create(settings: OutboundSettings, logger: Logger, previous?: OutboundPolicy): OutboundPolicy {
    const key = JSON.stringify(settings.limits);
    const limits = previous?.limitsKey === key ? previous.limits : AccountLimits.create(settings.limits, logger);
    return new OutboundPolicy(new SenderRules(settings.senders), limits, key);
  }

  /** A wrong sender is refused before it counts against the account's messages. */
  async mail(login: string, sender: string, logger: Logger): Promise<SmtpReply | undefined> {
    if (!this.senders.allows(login, sender)) {
      const reply = senderNotOwnedReply(sender, login);
      events.account.publish({ event: 'sender-refused' });
      logger.info({ user: login, from: sender, reply }, 'sender address not allowed for this login');
      return reply;
    }
    return this.refused('MAIL', login, await this.limits.message(login), logger);
  }

  async rcpt(login: string, recipient: string, logger: Logger): Promise<SmtpReply | undefined> {
    return this.refused('RCPT', login, await this.limits.recipient(login), logger, recipient);
  }

  /** Closes the limits' store, unless `next` (the policy replacing this one) kept them. */
  async close(next?: OutboundPolicy): Promise<void> {
    if (next?.limits !== this.limits) await this.limits.close();
  }

  private refused(command: string, login: string, over: OverLimit | undefined, logger: Logger, recipient?: string): SmtpReply | undefined {
    if (!over) return undefined;
    events.account.publish({ event: 'over-limit', limit: over.limit });
    logger.info({ command, user: login, limit: over.limit, ...(recipient ? { recipient } : {}), reply: over.reply }, 'account over its limit');
    return over.reply;
  }
}
