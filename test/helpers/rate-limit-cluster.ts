/**
 * A proxy's process layout in miniature for the rate-limit tests: a node:cluster primary that
 * calls startRateLimitPrimary() before forking, as src/supervisor.ts does, and WORKERS workers
 * that each try ATTEMPTS connections from one address against a limit of LIMIT. Prints
 * {"allowed": N} (all workers together) on stdout.
 */
import cluster from 'node:cluster';
import { pino } from 'pino';
import { startRateLimitPrimary } from '../../src/screen/limiter-set.js';
import { RateLimits, rateLimitsSchema } from '../../src/screen/rate-limits.js';

const WORKERS = 2;
const LIMIT = Number(process.env.LIMIT ?? 5);
const ATTEMPTS = Number(process.env.ATTEMPTS ?? 5);

if (cluster.isPrimary) {
  startRateLimitPrimary();
  let allowed = 0;
  let done = 0;
  for (let i = 0; i < WORKERS; i++) {
    // The limiters' own messages to the primary arrive here too.
    cluster.fork().on('message', (message: { allowed?: number }) => {
      if (typeof message.allowed !== 'number') return;
      allowed += message.allowed;
      if (++done === WORKERS) {
        console.log(JSON.stringify({ allowed }));
        process.exit(0);
      }
    });
  }
} else {
  const limits = RateLimits.create(rateLimitsSchema.parse({ connections: { limit: LIMIT } }), pino({ level: 'silent' }));
  let allowed = 0;
  for (let i = 0; i < ATTEMPTS; i++) {
    if ((await limits.connection('192.0.2.50')) === undefined) allowed++;
  }
  process.send!({ allowed });
}
