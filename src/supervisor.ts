import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { startRateLimitPrimary } from './screen/limiter-set.js';

const RESTART_WINDOW = 10_000;
const MAX_RESTARTS = 5;

/**
 * The primary process of a multi-worker proxy: forks the workers, replaces one that dies
 * (clients of a dead worker saw a dropped connection and retry; nothing was accepted), and on
 * SIGTERM/SIGINT (`stopRequested`, listened for before the first fork) passes the signal on and
 * exits 0 once every worker has drained. A worker that keeps dying (5 times in 10 s) stops the
 * whole proxy (exit 1) rather than loop.
 */
export function supervise(count: number, logger: Logger, stopRequested: Promise<NodeJS.Signals>): Promise<number> {
  let stopping = false;
  // Giving up on dying workers is a failure: a service manager should see it and restart us.
  let gaveUp = false;
  const restarts: number[] = [];
  // Before the first fork: the workers' rate limits are counted here, once for the whole proxy.
  startRateLimitPrimary();
  const fork = () => cluster.fork();
  for (let i = 0; i < count; i++) fork();

  return new Promise((resolve) => {
    const finishIfDone = () => {
      if (stopping && Object.keys(cluster.workers ?? {}).length === 0) resolve(gaveUp ? 1 : 0);
    };
    cluster.on('exit', (worker: Worker, code, signal) => {
      if (stopping) return finishIfDone();
      const now = Date.now();
      restarts.push(now);
      while (restarts[0]! < now - RESTART_WINDOW) restarts.shift();
      logger.error({ worker: worker.process.pid, code, signal }, 'worker died; starting a new one');
      if (restarts.length > MAX_RESTARTS) {
        logger.fatal('workers keep dying; stopping');
        gaveUp = true;
        stop('SIGTERM');
        return;
      }
      fork();
    });
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping workers: draining transactions in flight');
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
      finishIfDone();
    };
    void stopRequested.then(stop);
  });
}
