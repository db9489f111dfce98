import { z } from 'zod';
import { accessSchema } from './access-list.js';
import { dnsListsSchema } from './dns-lists.js';
import { rateLimitsSchema } from './rate-limits.js';
import { tarpitSchema } from './tarpit.js';

/**
 * `screening:` in the config: absent, no client is screened. `action` says what a listing or a
 * deny does: `enforce` (the default: the client gets its banner and 550 at each RCPT, so the
 * log shows whom it wrote to), `drop` (521 at connect), `ignore` (logged only, to try lists
 * out). Rate limits and the tarpit apply whatever the action.
 */
export const screeningSchema = z.strictObject({
  action: z.enum(['drop', 'enforce', 'ignore']).default('enforce'),
  access: accessSchema,
  dnsLists: dnsListsSchema,
  rateLimits: rateLimitsSchema,
  tarpit: tarpitSchema,
});

export type ScreeningSettings = z.output<typeof screeningSchema>;
