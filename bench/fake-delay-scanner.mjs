// A scanner plugin for smtp-scan-proxy that takes a fixed time and finds nothing: the bench's
// stand-in for an AV engine (5 ms) and a spam engine (50 ms), to show the scanners running in
// parallel. Load it with `plugins: [./fake-delay-scanner.mjs]` and
// `scanners: [{ type: fake-delay, name: fake-av, delay: 5 }, ...]`.
//
// zod comes from the proxy's own node_modules (Node resolves it up the tree from bench/), so the
// schema is built by the same zod the config loader uses.
//
// When BENCH_FAKE_COUNT_FILE is set, each process appends "<pid> <name> <scans>" lines to it at
// exit, so the bench can check that the scanners really ran.
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';

const counts = new Map();
const countFile = process.env.BENCH_FAKE_COUNT_FILE;
if (countFile) {
  process.once('exit', () => {
    const lines = [...counts].map(([name, n]) => `${process.pid} ${name} ${n}\n`).join('');
    if (lines) appendFileSync(countFile, lines);
  });
}

export const scanner = {
  type: 'fake-delay',
  options: z.strictObject({
    /** Milliseconds each scan takes. */
    delay: z.number().int().min(0),
  }),
  create(options, ctx) {
    counts.set(ctx.name, 0);
    return {
      name: ctx.name,
      type: 'fake-delay',
      async scan(_message, signal) {
        counts.set(ctx.name, (counts.get(ctx.name) ?? 0) + 1);
        await sleep(options.delay, undefined, { signal });
        return { kind: 'clean' };
      },
    };
  },
};
