import { z } from 'zod';
import { limitStoreKeys } from '../screen/limiter-set.js';

const perAccount = z.number().int().min(0).default(0);

/**
 * What an authenticated account may send per hour and per day (counted from its first
 * message in the window, not the clock's hour); 0 is no limit, the default.
 */
const accountLimits = z
  .strictObject({
    ...limitStoreKeys,
    /** MAIL commands accepted from one account. */
    messagesPerHour: perAccount,
    messagesPerDay: perAccount,
    /** RCPT commands from one account, whatever the message. */
    recipientsPerHour: perAccount,
    recipientsPerDay: perAccount,
  })
  .prefault({});

/** `alice@example.com` (that address), `example.com` or `@example.com` (any address there), `*` (any sender). */
const senderPattern = z
  .string()
  .regex(/^(\*|@?[^@\s]+|[^@\s]+@[^@\s]+)$/, 'an address, a domain (example.com or @example.com), or *')
  .transform((pattern) => pattern.toLowerCase());

const senders = z
  .strictObject({
    /**
     * For logins not in `allowed`: `login-domain` (an address in the login's own domain, when
     * the login is an address), `login-address` (exactly the login), `any`.
     */
    default: z.enum(['login-domain', 'login-address', 'any']).default('login-domain'),
    /** Login (case-blind) -> the sender addresses and domains it may use. */
    allowed: z
      .record(z.string().min(1), z.array(senderPattern).min(1))
      .default({})
      .refine((map) => new Set(Object.keys(map).map((login) => login.toLowerCase())).size === Object.keys(map).length, {
        message: 'a login listed twice (logins are compared case-blind)',
      }),
  })
  .prefault({});

/**
 * `outbound:` in the config: what applies to mail from submission listeners besides the
 * scanners' outbound thresholds (each scanner's `outbound` key).
 */
export const outboundSchema = z
  .strictObject({
    limits: accountLimits,
    senders,
  })
  .prefault({});

export type OutboundSettings = z.output<typeof outboundSchema>;

/** A scanner entry's `outbound: { rejectScore, tagScore }`: its thresholds for submission listeners. */
export const outboundThresholdsSchema = z.strictObject({
  rejectScore: z.number().optional(),
  tagScore: z.number().optional(),
});
