import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import { upstream } from '../health-check.js';
import type { ScannerFactory } from '../scan/registry.js';
import { createEndpoints } from '../scan/endpoints.js';
import type { Scanner } from '../scan/scanner.js';
import { serverLabel, upstreamServers } from '../upstream/servers-config.js';

/** How long one answer stands: a probe every second costs one check every few seconds. */
const CACHE_MS = 3000;
const TIMEOUT = 5000;

export interface ReadinessAnswer {
  readonly ready: boolean;
  /** One line per failed check, naming what failed. */
  readonly failures: readonly string[];
}

/**
 * /readyz: mail can flow when the upstream answers its banner and EHLO and every scanner whose
 * onError is tempfail answers its ping (with one down, every message gets 451). Scanners with
 * onError: accept do not count: mail flows without them.
 */
export class Readiness {
  /** Each scanner's endpoints: one that answers is enough, the scanner unit fails over. */
  private readonly scanners: readonly { readonly name: string; readonly endpoints: readonly Scanner[] }[];
  private answer: { value: Promise<ReadinessAnswer>; at: number } | undefined;

  constructor(
    private readonly config: Config,
    factories: ReadonlyMap<string, ScannerFactory>,
    logger: Logger,
  ) {
    this.scanners = config.scanners
      .filter((settings) => settings.onError === 'tempfail')
      .map((settings) => ({
        name: settings.name,
        endpoints: createEndpoints(factories.get(settings.type)!, settings, { name: settings.name, logger: logger.child({ scanner: settings.name }) }),
      }));
  }

  check(): Promise<ReadinessAnswer> {
    const now = Date.now();
    if (!this.answer || now - this.answer.at >= CACHE_MS) this.answer = { value: this.run(), at: now };
    return this.answer.value;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.scanners.flatMap((scanner) => scanner.endpoints.map((endpoint) => endpoint.close?.())));
  }

  private async run(): Promise<ReadinessAnswer> {
    const servers = upstreamServers(this.config.upstream);
    // Mail flows while one upstream server and one endpoint of each scanner answer.
    const checks = [
      attempt(`upstream ${servers.map(serverLabel).join(', ')}`, () => Promise.any(servers.map((server) => upstream(this.config, server)))),
      ...this.scanners.map((scanner) =>
        attempt(`scanner ${scanner.name}`, () => Promise.any(scanner.endpoints.map((endpoint) => endpoint.ping?.(AbortSignal.timeout(TIMEOUT))))),
      ),
    ];
    const failures = (await Promise.all(checks)).filter((line): line is string => line !== undefined);
    return { ready: failures.length === 0, failures };
  }
}

async function attempt(what: string, check: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await check();
    return undefined;
  } catch (error) {
    const errors = error instanceof AggregateError ? error.errors : [error];
    return `${what}: ${errors.map((each) => (each as Error).message).join('; ')}`;
  }
}
