#!/usr/bin/env node
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import { startProxy } from './app.js';
import { loadConfig } from './config/load.js';
import { perWorker } from './config/per-worker.js';
import { ProxyError } from './errors.js';
import { healthCheck } from './health-check.js';
import { createLogger } from './logger.js';
import { preparePrimary } from './local-setup.js';
import { startPrimaryMetrics } from './metrics/start.js';
import { ConfigReloader, signalWorkers, type ReloadOptions } from './reload.js';
import { reloadSignal } from './reload-signal.js';
import { builtinScanners } from './scan/builtin.js';
import { stopSignal } from './stop-signal.js';
import { supervise } from './supervisor.js';

const USAGE = `Usage: smtp-scan-proxy [--config FILE] [--check]

Runs the SMTP scanning proxy. The config file (YAML) may also be named by the
SMTP_SCAN_PROXY_CONFIG environment variable; without one, the built-in defaults apply
(listen 127.0.0.1:2525, upstream 127.0.0.1:25, no scanners).

--check  asks a running proxy (same config) for its banner and checks that the
         upstream and each scanner answer; exits 0 when the proxy answers.`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string', short: 'c' },
      check: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const { config, factories, file } = await loadConfig(values.config, builtinScanners);
  if (values.check) {
    const lines = await healthCheck(config, factories);
    for (const line of lines) console.log(`${line.ok ? 'ok  ' : 'FAIL'} ${line.what}: ${line.detail}`);
    return lines[0]!.ok ? 0 : 1;
  }
  const logger = createLogger(config.log.level);
  // Before anything listens: a signal during start-up lets the start-up finish, then drains.
  const stopRequested = stopSignal();
  const reloadRequested = reloadSignal();
  const reloader = (role: ReloadOptions['role'], apply: ReloadOptions['apply']) =>
    new ConfigReloader(config, { file, builtins: builtinScanners, logger, role, apply }).reload;
  if (config.workers > 1 && cluster.isPrimary) {
    await preparePrimary(config, logger, file);
    logger.info({ workers: config.workers }, 'starting workers');
    reloadRequested.handle(reloader('primary', signalWorkers));
    const metrics = await startPrimaryMetrics(config, factories, logger);
    return supervise(config.workers, logger, stopRequested).finally(() => metrics?.close());
  }
  const proxy = await startProxy(perWorker(config), { logger, factories });
  reloadRequested.handle(reloader(cluster.isWorker ? 'worker' : 'process', (next, nextFactories) => proxy.reconfigure(perWorker(next), nextFactories)));
  logger.info({ signal: await stopRequested }, 'stopping: draining transactions in flight');
  await proxy.stop();
  logger.info('stopped');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof ProxyError || (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
      ? (error as Error).message
      : error);
    process.exit(error instanceof ProxyError ? 78 : 1);
  },
);
