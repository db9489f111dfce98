import { z } from 'zod';

/** The key `upstream` gains for RFC 3030 CHUNKING (src/config/schema.ts spreads it in). */
export const upstreamChunkingKeys = {
  /**
   * auto: a message goes as one `BDAT <size> LAST` when the upstream offers CHUNKING (Postfix
   * 3.4+, Exchange): one round trip, no dot-stuffing pass. off: always DATA.
   */
  chunking: z.enum(['auto', 'off']).default('auto'),
};
