import { z } from 'zod';
import { duration } from '../config/units.js';

export const tarpitSchema = z
  .strictObject({
    /** Before every reply to a client with a positive DNS-list score under the threshold. */
    delay: duration.default(0),
    /** Negative replies on one connection after which each further reply waits longer (Postfix: smtpd_soft_error_limit). */
    afterErrors: z.number().int().min(1).default(10),
    /** How much longer each negative reply past afterErrors makes the wait. */
    step: duration.default(1000),
    /** The longest wait before one reply (also capped below limits.idleTimeout). */
    max: duration.default(10_000),
  })
  .prefault({});

export type TarpitSettings = z.output<typeof tarpitSchema>;

/**
 * How long to wait before a reply to one client: a fixed pause for a suspicious client (a
 * listing under the threshold), and a pause that grows with each negative reply past a few,
 * which makes a dictionary attack on RCPT slow. Only a number per connection, no buffers: the
 * caller waits with a timer.
 */
export class Tarpit {
  private negative = 0;

  constructor(
    private readonly settings: TarpitSettings,
    private readonly suspicious: boolean,
    /** The client's idle limit: a pause must never make us the one who times out. */
    private readonly ceiling: number,
  ) {}

  /** The pause before the next reply. */
  get pause(): number {
    const { delay, afterErrors, step, max } = this.settings;
    const base = this.suspicious ? delay : 0;
    const growth = Math.max(0, this.negative - afterErrors + 1) * step;
    return Math.min(base + growth, max, Math.max(0, this.ceiling - 1000));
  }

  /** Counts a negative reply this client got. */
  note(code: number): void {
    if (code >= 400) this.negative++;
  }
}
