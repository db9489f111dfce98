import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from './config/load.js';
import { prepareLocalSetup, removeLocalSetup } from './local-setup.js';
import { startProxyMetrics } from './metrics/start.js';
import { dropPrivileges } from './privileges.js';
import { Runtime } from './runtime.js';
import type { Listener } from './server/listener.js';
import { Listeners } from './server/listeners.js';
import { builtinScanners } from './scan/builtin.js';
import type { ScannerFactory } from './scan/registry.js';
import type { ScanStage } from './scan/stage.js';
import { MISSING_XCLIENT_REPEAT, missingXclient, type UpstreamLinkSettings } from './session/upstream-link.js';
import type { Connect } from './session/upstream-pool.js';
import { MemoryBudget } from './spool/memory-budget.js';
import { UpstreamClient } from './upstream/client.js';
import type { Capabilities } from './upstream/capabilities.js';
import { serverLabel, upstreamServers } from './upstream/servers-config.js';

export interface ProxyOptions {
  readonly logger: Logger;
  /** Scanner types by name (built-ins plus plugins); defaults to the built-ins. */
  readonly factories?: ReadonlyMap<string, ScannerFactory>;
  /** Replaces the stage built from config.scanners (tests use doubles here). */
  readonly scanStage?: ScanStage;
  /** How upstream sessions are opened (tests inject faults here). */
  readonly connect?: Connect;
}

export interface RunningProxy {
  readonly address: AddressInfo;
  readonly listener: Listener;
  /** Every listener's address, in the order of `listen` (the first is `address`). */
  readonly addresses: readonly AddressInfo[];
  /** The metrics listener's address, when this process serves one (config.metrics). */
  readonly metricsAddress?: AddressInfo;
  /**
   * A reload (src/reload.ts): new connections and new messages use `config`; throws, with
   * the old config still in force, when a part of it cannot be built.
   */
  reconfigure(config: Config, factories: ReadonlyMap<string, ScannerFactory>): void;
  /** Drains (see Listener.drain) and stops; resolves when every connection is closed. */
  stop(timeout?: number): Promise<void>;
}

/** Wires one proxy from a validated config and starts listening. */
export async function startProxy(config: Config, options: ProxyOptions): Promise<RunningProxy> {
  const { logger } = options;
  const local = await prepareLocalSetup(config, logger);
  const budget = new MemoryBudget(config.spool.memoryTotal);
  const connect = options.connect ?? ((upstreamOptions) => UpstreamClient.connect(upstreamOptions));
  let listeners: Listeners | undefined;
  const learn = (capabilities: Capabilities) => listeners?.updateUpstreamCapabilities(capabilities);
  const learningConnect: Connect = async (upstreamOptions) => {
    const client = await connect(upstreamOptions);
    learn(client.capabilities);
    return client;
  };

  const runtime = new Runtime(config, options.factories ?? builtinScanners, {
    logger,
    connect: learningConnect,
    spoolDir: local.spool.dir,
    budget,
    ...(options.scanStage ? { scanStage: options.scanStage } : {}),
  });
  listeners = new Listeners(config, runtime, logger);
  // Before the first client: every connection and message is counted.
  const metrics = await startProxyMetrics(config, options.factories ?? builtinScanners, logger);
  const addresses = await listeners.listen();
  const address = addresses[0]!;
  // Still in the turn the bind completed in: no client byte has been read yet.
  dropPrivileges(local.runAs, logger);
  const more = addresses.length > 1 ? { listeners: addresses } : {};
  logger.info({ listen: address, ...more, upstream: upstreamServers(config.upstream).map(serverLabel).join(', '), spool: local.spool.dir }, 'smtp-scan-proxy listening');
  void probeUpstream(runtime.connectUpstream, runtime.linkSettings, logger);
  const running = listeners;
  return {
    address,
    addresses,
    listener: running.all[0]!,
    ...(metrics?.listener ? { metricsAddress: metrics.listener.address } : {}),
    reconfigure(next, factories) {
      runtime.replace(next, factories);
      running.reconfigure(next, runtime.screening);
    },
    async stop(timeout = runtime.config.shutdown.timeout) {
      await running.drain(timeout);
      await metrics?.close();
      await runtime.close();
      await removeLocalSetup(local);
    },
  };
}

/** Learns the upstream's extensions at start-up, so the first clients are offered the right ones. */
async function probeUpstream(connect: Connect, settings: UpstreamLinkSettings, logger: Logger): Promise<void> {
  try {
    const client = await connect({ ...settings.options });
    // Said at start-up, not only at the first client's MAIL, so the admin sees it at once.
    const missing = missingXclient(settings, client);
    if (missing && settings.notices.due('xclient missing', MISSING_XCLIENT_REPEAT)) logger.error(missing);
    await client.quit();
  } catch (error) {
    logger.warn({ err: error }, 'upstream not reachable at start-up; clients get 4xx until it is');
  }
}
