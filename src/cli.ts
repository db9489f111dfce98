#!/usr/bin/env node
import cluster from 'node:cluster';
import { startProxy } from './app.js';
import { checkConfig } from './commands/check-config.js';
import { dkimKeygen } from './commands/dkim-keygen.js';
import { scanCommand } from './commands/scan.js';
import { parseCommand, USAGE, UsageError } from './commands/usage.js';
import { version } from './commands/version.js';
import { loadConfig } from './config/load.js';
import { perWorker } from './config/per-worker.js';
import { ConfigError, ProxyError } from './errors.js';
import { healthCheck } from './health-check.js';
import { createLogger } from './logger.js';
import { preparePrimary } from './local-setup.js';
import { startPrimaryMetrics } from './metrics/start.js';
import { ConfigReloader, signalWorkers, type ReloadOptions } from './reload.js';
import { reloadSignal } from './reload-signal.js';
import { builtinScanners } from './scan/builtin.js';
import { stopSignal } from './stop-signal.js';
import { supervise } from './supervisor.js';

async function main(): Promise<number> {
  const command = parseCommand(process.argv.slice(2));
  if (command.name === 'help') {
    console.log(USAGE);
    return 0;
  }
  if (command.name === 'version') {
    console.log(`smtp-scan-proxy ${version()}`);
    return 0;
  }
  if (command.name === 'dkim-keygen') return dkimKeygen(command, (line) => console.log(line), (line) => console.error(line));
  const loaded = await loadConfig(command.config, builtinScanners);
  const { config, factories, file } = loaded;
  if (command.name === 'check-config') return checkConfig(loaded, command.print, (text) => console.log(text));
  if (command.name === 'scan') return scanCommand(loaded, command.input, (line) => console.log(line)).catch(scanFailed);
  if (command.check) {
    const lines = await healthCheck(config, factories);
    for (const line of lines) console.log(`${line.ok ? 'ok  ' : 'FAIL'} ${line.what}: ${line.detail}`);
    // The listeners come first and decide the exit status.
    return lines.slice(0, config.listeners.length).every((line) => line.ok) ? 0 : 1;
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

/** A scan that could not finish (unreadable file, spool fault) is a tempfail's exit status, 2. */
function scanFailed(error: unknown): number {
  if (error instanceof ConfigError) throw error;
  console.error(`scan failed: ${(error as Error).message}`);
  return 2;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      console.error(`smtp-scan-proxy: ${error.message}\n\n${USAGE}`);
      process.exit(64);
    }
    console.error(error instanceof ProxyError ? error.message : error);
    process.exit(error instanceof ProxyError ? 78 : 1);
  },
);
