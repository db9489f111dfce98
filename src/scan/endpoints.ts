import type { Logger } from 'pino';
import type { ScannerConfig } from '../config/load.js';
import { events } from '../observe/events.js';
import type { ScannerContext, ScannerFactory } from './registry.js';
import type { Scanner } from './scanner.js';
import type { Verdict } from './verdict.js';

/** How often a down endpoint is pinged; one without ping() is tried again after this long. */
export const DOWN_PING_INTERVAL = 5000;

interface Endpoint {
  readonly scanner: Scanner;
  readonly label: string;
  inFlight: number;
  healthy: boolean;
  /** Whether its health was published yet (metrics subscribe after the scanners are built). */
  reported: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** One adapter instance per configured server (`servers:`), or the entry's own one. */
export function createEndpoints(factory: ScannerFactory, settings: ScannerConfig, context: ScannerContext): Scanner[] {
  return (settings.servers ?? [settings.options]).map((options) => factory.create(options, context));
}

/** How an endpoint is named in logs: its host and port or socket. */
export function endpointLabel(options: Readonly<Record<string, unknown>>): string {
  const { host, port, socket, url } = options;
  if (typeof socket === 'string') return socket;
  if (typeof url === 'string') return url;
  return [host, port].filter((part) => part !== undefined).join(':') || 'default endpoint';
}

/**
 * The endpoints of one scanner (several clamd hosts, say); adapters stay single-endpoint and
 * this picks among them. A scan goes to the healthy endpoint with the fewest scans running,
 * so a slow or stopped one gets less before it is even found out. An endpoint that answers a
 * scan with an error (down, timed out, out of step) is marked down and the scan is retried on
 * the next one, which is safe because a scan changes nothing; the caller bounds the attempts
 * with the scan deadline. A down endpoint is skipped until it answers a ping, and still tried
 * as a last resort when every healthy one failed too. With one endpoint nothing changes.
 */
export class ScannerEndpoints {
  readonly #endpoints: Endpoint[];
  #turn = 0;
  #closed = false;

  constructor(
    scanners: readonly Scanner[],
    labels: readonly string[],
    private readonly pingTimeout: number,
    private readonly logger?: Logger,
    private readonly pingInterval = DOWN_PING_INTERVAL,
  ) {
    if (scanners.length === 0) throw new Error('a scanner needs at least one endpoint');
    this.#endpoints = scanners.map((scanner, index) => ({ scanner, label: labels[index] ?? String(index), inFlight: 0, healthy: true, reported: false, timer: undefined }));
  }

  /** The first endpoint, for what needs only one (version, plugins' own tools). */
  get first(): Scanner {
    return this.#endpoints[0]!.scanner;
  }

  get scanners(): readonly Scanner[] {
    return this.#endpoints.map((endpoint) => endpoint.scanner);
  }

  /** Health as last seen, for logs and tests. */
  get states(): readonly { readonly label: string; readonly healthy: boolean }[] {
    return this.#endpoints.map(({ label, healthy }) => ({ label, healthy }));
  }

  /**
   * Runs one attempt after another until a verdict that is not a retryable error, or no
   * endpoint is left, or `signal` aborts (the stage gave up: no more attempts).
   */
  async run(attempt: (scanner: Scanner) => Promise<Verdict>, signal: AbortSignal): Promise<Verdict> {
    const order = this.#order();
    let verdict: Verdict | undefined;
    for (const [index, endpoint] of order.entries()) {
      endpoint.inFlight++;
      try {
        verdict = await attempt(endpoint.scanner);
      } finally {
        endpoint.inFlight--;
      }
      if (!retryable(verdict) || signal.aborted || order.length === 1) {
        if (!endpoint.reported && order.length > 1) this.#publish(endpoint);
        return verdict;
      }
      this.#markDown(endpoint, verdict.detail, index < order.length - 1);
    }
    return verdict!;
  }

  /** Stops the pings and closes every endpoint. Never throws. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const endpoint of this.#endpoints) clearTimeout(endpoint.timer);
    await Promise.allSettled(this.#endpoints.map((endpoint) => endpoint.scanner.close?.()));
  }

  /** Healthy ones, fewest running first (ties taken in turn); then the down ones as a last resort. */
  #order(): Endpoint[] {
    const turn = this.#turn++ % this.#endpoints.length;
    const rotated = [...this.#endpoints.slice(turn), ...this.#endpoints.slice(0, turn)];
    const healthy = rotated.filter((endpoint) => endpoint.healthy).sort((a, b) => a.inFlight - b.inFlight);
    return [...healthy, ...rotated.filter((endpoint) => !endpoint.healthy)];
  }

  #markDown(endpoint: Endpoint, detail: string, retrying: boolean): void {
    if (!endpoint.healthy) return;
    endpoint.healthy = false;
    this.#publish(endpoint);
    this.logger?.warn(
      { endpoint: endpoint.label, detail },
      `scanner endpoint ${endpoint.label} failed${retrying ? '; scan retried on another' : ''}; skipped until it answers a ping`,
    );
    this.#schedulePing(endpoint);
  }

  #publish(endpoint: Endpoint): void {
    endpoint.reported = true;
    events.health.publish({ kind: 'scanner', scanner: endpoint.scanner.name, endpoint: endpoint.label, healthy: endpoint.healthy });
  }

  #schedulePing(endpoint: Endpoint): void {
    if (this.#closed) return;
    endpoint.timer = setTimeout(() => void this.#ping(endpoint), this.pingInterval);
    endpoint.timer.unref();
  }

  async #ping(endpoint: Endpoint): Promise<void> {
    try {
      await endpoint.scanner.ping?.(AbortSignal.timeout(this.pingTimeout));
    } catch {
      return this.#schedulePing(endpoint);
    }
    endpoint.healthy = true;
    this.#publish(endpoint);
    this.logger?.info({ endpoint: endpoint.label }, `scanner endpoint ${endpoint.label} answers again`);
  }
}

function retryable(verdict: Verdict): verdict is Extract<Verdict, { kind: 'error' }> {
  // A message too large for this engine is too large for its twin too.
  return verdict.kind === 'error' && verdict.error !== 'too-large';
}
