import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from './config/load.js';
import { prepareLocalSetup, removeLocalSetup } from './local-setup.js';
import { dropPrivileges } from './privileges.js';
import { buildScreening } from './screen/build.js';
import { Listener } from './server/listener.js';
import { builtinScanners } from './scan/builtin.js';
import { noScanning } from './scan/no-scanning.js';
import type { ScannerFactory } from './scan/registry.js';
import { ScanningStage } from './scan/scanning-stage.js';
import type { ScanStage } from './scan/stage.js';
import { ProxySession, type SessionSettings } from './session/proxy-session.js';
import { MISSING_XCLIENT_REPEAT, missingXclient, UpstreamLink, type UpstreamLinkSettings } from './session/upstream-link.js';
import { UpstreamNotices } from './session/upstream-notices.js';
import { UpstreamPool, type Connect } from './session/upstream-pool.js';
import { MemoryBudget } from './spool/memory-budget.js';
import { UpstreamClient } from './upstream/client.js';
import type { Capabilities } from './upstream/capabilities.js';

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
  /** Drains (see Listener.drain) and stops; resolves when every connection is closed. */
  stop(timeout?: number): Promise<void>;
}

/** Wires one proxy from a validated config and starts listening. */
export async function startProxy(config: Config, options: ProxyOptions): Promise<RunningProxy> {
  const { logger } = options;
  const built = options.scanStage || config.scanners.length === 0
    ? undefined
    : ScanningStage.fromConfig(config, options.factories ?? builtinScanners, logger);
  const scanStage = options.scanStage ?? built ?? noScanning;
  const local = await prepareLocalSetup(config, logger);
  const budget = new MemoryBudget(config.spool.memoryTotal);
  const connect = options.connect ?? ((upstreamOptions) => UpstreamClient.connect(upstreamOptions));
  const linkSettings = upstreamLinkSettings(config);
  let listener: Listener | undefined;
  const learn = (capabilities: Capabilities) => listener?.updateUpstreamCapabilities(capabilities);
  const learningConnect: Connect = async (upstreamOptions) => {
    const client = await connect(upstreamOptions);
    learn(client.capabilities);
    return client;
  };

  const pool = new UpstreamPool(learningConnect, config.upstream.poolSize, config.upstream.poolIdle);
  const sessionSettings: SessionSettings = {
    spool: { ...config.spool, dir: local.spool.dir },
    bareLineFeed: config.limits.bareLineFeed,
    upstreamKeepAlive: { interval: config.upstream.keepAlive, commandTimeout: config.upstream.commandTimeout },
  };
  const screening = buildScreening(config, logger);
  listener = new Listener(
    config,
    (session, sessionLogger, screen) =>
      new ProxySession({
        settings: sessionSettings,
        link: new UpstreamLink(linkSettings, sessionLogger, pool),
        scanStage,
        budget,
        logger: sessionLogger,
        screen,
      }),
    logger,
    screening?.screening,
  );
  const address = await listener.listen();
  // Still in the turn the bind completed in: no client byte has been read yet.
  dropPrivileges(local.runAs, logger);
  logger.info({ listen: address, upstream: `${config.upstream.host}:${config.upstream.port}`, spool: local.spool.dir }, 'smtp-scan-proxy listening');
  void probeUpstream(learningConnect, linkSettings, logger);
  const running = listener;
  return {
    address,
    listener: running,
    async stop(timeout = config.shutdown.timeout) {
      await running.drain(timeout);
      await pool.close();
      await built?.close();
      await screening?.close();
      await removeLocalSetup(local);
    },
  };
}

function upstreamLinkSettings(config: Config): UpstreamLinkSettings {
  const { upstream, listen } = config;
  return {
    xclient: upstream.xclient,
    notices: new UpstreamNotices(),
    options: {
      host: upstream.host,
      port: upstream.port,
      localName: upstream.helo ?? listen.hostname,
      connectTimeout: upstream.connectTimeout,
      commandTimeout: upstream.commandTimeout,
      dataTimeout: upstream.dataTimeout,
      tls: {
        mode: upstream.starttls,
        rejectUnauthorized: upstream.tlsVerify,
        ...(upstream.tlsCa ? { ca: readFileSync(upstream.tlsCa) } : {}),
      },
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
