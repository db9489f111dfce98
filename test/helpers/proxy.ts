import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { startProxy, type ProxyOptions, type RunningProxy } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { builtinScanners } from '../../src/scan/builtin.js';
import type { Connect } from '../../src/session/upstream-pool.js';
import { UpstreamClient } from '../../src/upstream/client.js';

export interface TestProxy extends RunningProxy {
  readonly port: number;
  readonly spoolDir: string;
}

/**
 * A proxy in this process on a free port, with a config given as the YAML would be (minus the
 * listener), a private spool dir and a silent logger (LOG_LEVEL=debug shows the logs).
 * `options.factories` adds scanner types (test doubles) to the built-in ones, for the config
 * and for the proxy alike.
 */
export async function startTestProxy(raw: Record<string, unknown> = {}, options: Partial<ProxyOptions> = {}): Promise<TestProxy> {
  const factories = new Map([...builtinScanners, ...(options.factories ?? [])]);
  const spoolDir = await mkdtemp(path.join(os.tmpdir(), 'ssp-test-spool-'));
  const listenDefaults = { port: 0, hostname: 'proxy.example.test', reverseLookup: false };
  // One listener or a list of them (listen takes both): each gets the defaults.
  const listen = Array.isArray(raw.listen)
    ? raw.listen.map((entry: Record<string, unknown>) => ({ ...listenDefaults, ...entry }))
    : { ...listenDefaults, ...((raw.listen ?? {}) as Record<string, unknown>) };
  const rawLimits = (raw.limits ?? {}) as Record<string, unknown>;
  const config = parseConfig(
    {
      ...raw,
      listen,
      limits: { greetDelay: 0, ...rawLimits },
      spool: { dir: spoolDir, ...((raw.spool ?? {}) as Record<string, unknown>) },
    },
    factories,
  );
  const logger = pino({ level: process.env.LOG_LEVEL ?? 'silent' });
  const running = await startProxy(config, { logger, ...options, factories });
  return {
    ...running,
    port: running.address.port,
    spoolDir,
    async stop(timeout?: number) {
      await running.stop(timeout);
      await rm(spoolDir, { recursive: true, force: true });
    },
  };
}

/** Opens upstream sessions as the proxy does, counting them: `opened()` tells how many so far. */
export function countingConnect(): { connect: Connect; opened: () => number } {
  let count = 0;
  return {
    connect: async (options) => {
      count++;
      return UpstreamClient.connect(options);
    },
    opened: () => count,
  };
}
