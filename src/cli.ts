#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { startProxy } from './app.js';
import { loadConfig } from './config/load.js';
import { ProxyError } from './errors.js';
import { createLogger } from './logger.js';
import { builtinScanners } from './scan/builtin.js';

const USAGE = `Usage: smtp-scan-proxy [--config FILE]

Runs the SMTP scanning proxy. The config file (YAML) may also be named by the
SMTP_SCAN_PROXY_CONFIG environment variable; without one, the built-in defaults apply
(listen 127.0.0.1:2525, upstream 127.0.0.1:25, no scanners).`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const { config, factories } = await loadConfig(values.config, builtinScanners);
  const logger = createLogger(config.log.level);
  const proxy = await startProxy(config, { logger, factories });
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'stopping: draining transactions in flight');
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
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
