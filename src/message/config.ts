import { z } from 'zod';

/**
 * Headers of Exchange's own that a gateway's connector trusts (Organization: SCL, AuthAs, ...)
 * or that carry Exchange Online's anti-spam stamps. "*" matches any run of characters, so
 * `X-MS-Exchange-*-AntiSpam-*` does not match `X-MS-Exchange-AntiSpam-Relay`: both are listed.
 */
export const EXCHANGE_HEADERS = ['X-MS-Exchange-Organization-*', 'X-MS-Exchange-*-AntiSpam-*', 'X-MS-Exchange-AntiSpam-*'] as const;

const scl = z
  .number()
  .int()
  .min(0, '0 to 9: -1 would tell Exchange to skip its own spam filtering')
  .max(9, '0 to 9');

/** A header field name, "*" standing for any characters ("X-MS-Exchange-*-AntiSpam-*"). */
const headerPattern = z.string().regex(/^[\x21-\x39\x3b-\x7e]+$/, 'a header field name, * for any characters');

/** Our own Received header; `auto`: unless a Received header names the client already (message-headers.ts). */
export const receivedSchema = z.enum(['auto', 'always', 'never']).default('auto');

export const exchangeSchema = z
  .strictObject({
    /** Writes X-MS-Exchange-Organization-SCL from the antispam score; absent: no SCL header. */
    scl: z
      .strictObject({
        clean: scl.default(0),
        tagged: scl.default(6),
        scores: z.array(z.strictObject({ score: z.number(), scl })).default([]),
      })
      .optional(),
    /** Removed from every message, whatever a client wrote under these names. */
    removeHeaders: z.array(headerPattern).default([...EXCHANGE_HEADERS]),
  })
  .prefault({});
