import { z } from 'zod';
import { limitStoreKeys, limitWindow } from '../screen/limiter-set.js';

/**
 * At most `limit` failed logins per `window` for one key; past it every AUTH is answered 454
 * without a password being checked, until the window has passed. 0: no limit.
 */
const failedLoginLimit = (limit: number) =>
  z
    .strictObject({
      limit: z.number().int().min(0).default(limit),
      window: limitWindow.default(900_000),
    })
    .prefault({});

/**
 * Failed logins counted per client address (a guesser) and per user (a guessed account), in
 * memory (one proxy, all its workers) or Redis (every instance using it).
 */
const failedLogins = z
  .strictObject({
    ...limitStoreKeys,
    perAddress: failedLoginLimit(10),
    perUser: failedLoginLimit(10),
    /** IPv6 clients are counted per network of this many bits, as screening counts them. */
    ipv6Prefix: z.number().int().min(1).max(128).default(64),
  })
  .prefault({});

/**
 * A submission listener's `auth`: `file` checks logins against a users file (bcrypt or scrypt
 * hashes, src/auth/users-file.ts) and passes the login on with XCLIENT LOGIN; `upstream` relays
 * AUTH to the upstream's own SASL service on a session that belongs to that one user.
 */
export const authSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('file'), file: z.string().min(1), failedLogins }),
  z.strictObject({ type: z.literal('upstream'), failedLogins }),
]);

export type AuthSettings = z.output<typeof authSchema>;
export type FailedLoginSettings = AuthSettings['failedLogins'];
