import type { Config } from './load.js';

/**
 * The share of one worker when `workers` processes serve one listener: the limits an admin
 * sets are for the whole proxy, so each process gets its part (rounded up, so nothing drops to
 * zero). Scanner concurrency is split too, or N workers would open N times the connections
 * the admin sized clamd and spamd for.
 */
export function perWorker(config: Config): Config {
  const n = config.workers;
  if (n <= 1) return config;
  const share = (value: number) => Math.max(1, Math.ceil(value / n));
  return Object.freeze({
    ...config,
    limits: Object.freeze({
      ...config.limits,
      maxClients: share(config.limits.maxClients),
      maxClientsPerIp: config.limits.maxClientsPerIp && share(config.limits.maxClientsPerIp),
    }),
    spool: Object.freeze({ ...config.spool, memoryTotal: Math.floor(config.spool.memoryTotal / n) }),
    scanners: Object.freeze(
      config.scanners.map((scanner) =>
        Object.freeze({ ...scanner, concurrency: share(scanner.concurrency), maxQueue: Math.ceil(scanner.maxQueue / n) }),
      ),
    ),
  });
}
