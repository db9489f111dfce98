import cluster from 'node:cluster';
import type { Logger } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import type { Config } from '../config/load.js';
import type { ScannerFactory } from '../scan/registry.js';
import { Readiness } from './readiness.js';
import { createMetrics } from './registry.js';
import { serveMetrics, type MetricsListener } from './serve.js';

export interface RunningMetrics {
  /** Where the metrics listener is, in the process that serves it. */
  readonly listener?: MetricsListener;
  close(): Promise<void>;
}

/**
 * Metrics for a process that runs a proxy (config.metrics set, else undefined). One process
 * serves its own registry; a worker of node:cluster only answers its primary, whose listener
 * adds the workers' values up (startPrimaryMetrics).
 */
export async function startProxyMetrics(
  config: Config,
  factories: ReadonlyMap<string, ScannerFactory>,
  logger: Logger,
): Promise<RunningMetrics | undefined> {
  if (!config.metrics) return undefined;
  const metrics = createMetrics();
  if (cluster.isWorker) {
    AggregatorRegistry.setRegistries(metrics.registry);
    // Constructing one makes this worker answer the primary's requests for its metrics.
    new AggregatorRegistry();
    return { close: async () => metrics.close() };
  }
  const readiness = new Readiness(config, factories, logger);
  const listener = await serveMetrics(config.metrics, metrics.registry, readiness, logger).catch(async (error: unknown) => {
    metrics.close();
    await readiness.close();
    throw error;
  });
  return {
    listener,
    async close() {
      await listener.close();
      await readiness.close();
      metrics.close();
    },
  };
}

/** The primary of a multi-worker proxy: one scrape asks every worker and sums their values. */
export async function startPrimaryMetrics(
  config: Config,
  factories: ReadonlyMap<string, ScannerFactory>,
  logger: Logger,
): Promise<RunningMetrics | undefined> {
  if (!config.metrics) return undefined;
  const aggregator = new AggregatorRegistry();
  const source = { contentType: aggregator.contentType, metrics: () => aggregator.clusterMetrics() };
  const readiness = new Readiness(config, factories, logger);
  const listener = await serveMetrics(config.metrics, source, readiness, logger);
  return {
    listener,
    async close() {
      await listener.close();
      await readiness.close();
    },
  };
}
