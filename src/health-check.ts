import net from 'node:net';
import tls from 'node:tls';
import type { Config, ListenConfig } from './config/load.js';
import { listenerTls } from './server/listener-settings.js';
import { ownServer, ownUpstream } from './server/listener-upstream.js';
import { checkLocalSetup } from './local-setup.js';
import type { ScannerFactory } from './scan/registry.js';
import { createEndpoints, endpointLabel } from './scan/endpoints.js';
import { UpstreamClient } from './upstream/client.js';
import { serverLabel, upstreamServers } from './upstream/servers-config.js';
import { silentLogger } from './logger.js';

export interface CheckLine {
  readonly what: string;
  readonly ok: boolean;
  readonly detail: string;
}

const TIMEOUT = 5000;

/**
 * A PROXY v2 header with the LOCAL command: "my own connection", as a load balancer's health
 * check says it. Behind one (listen.proxyProtocol) the listener closes a connection without a
 * header, so the check sends this; its own address (127.0.0.1) must then be trusted.
 */
const PROXY_V2_LOCAL = Buffer.from('0d0a0d0a000d0a515549540a' + '20' + '00' + '0000', 'hex');

/**
 * `smtp-scan-proxy --check`: is the proxy answering, and can it reach what it depends on? The
 * listener decides the exit code (a container's health): a scanner or upstream that is down
 * is reported, but the proxy handles that itself by answering 4xx.
 */
export async function healthCheck(config: Config, factories: ReadonlyMap<string, ScannerFactory>): Promise<CheckLine[]> {
  // A spool or key file the proxy's user could not trust or read stops the check (exit 78).
  await checkLocalSetup(config);
  const lines = await Promise.all([
    ...config.listeners.map((listener) => probe(`listener ${listener.host}:${listener.port}`, () => banner(config, listener))),
    ...upstreamServers(config.upstream).map((server) => probe(`upstream ${serverLabel(server)}`, () => upstream(config, server))),
    // A listener's own upstream (a submission service) is checked as the shared one is.
    ...config.listeners.flatMap((listener, index) => {
      const own = ownServer(listener) ? ownUpstream(config, listener)! : undefined;
      const server = own && upstreamServers(own)[0]!;
      return own && server ? [probe(`upstream ${serverLabel(server)} (listen[${index}])`, () => upstream({ ...config, upstream: own }, server))] : [];
    }),
    ...config.scanners.flatMap((settings) => {
      const endpoints = createEndpoints(factories.get(settings.type)!, settings, { name: settings.name, logger: silentLogger });
      const labels = (settings.servers ?? [settings.options]).map(endpointLabel);
      return endpoints.map((scanner, index) =>
        probe(`scanner ${settings.name} (${settings.type})${endpoints.length > 1 ? ` at ${labels[index]}` : ''}`, async () => {
          if (!scanner.ping) return 'no health check for this type';
          await scanner.ping(AbortSignal.timeout(TIMEOUT));
          return 'answers';
        }),
      );
    }),
  ]);
  return lines;
}

async function probe(what: string, check: () => Promise<string>): Promise<CheckLine> {
  try {
    return { what, ok: true, detail: await check() };
  } catch (error) {
    return { what, ok: false, detail: (error as Error).message };
  }
}

/** Reads the banner the way a client would (over TLS on an implicit-TLS listener), then leaves with QUIT. */
function banner(config: Config, listener: ListenConfig): Promise<string> {
  const host = listener.host === '0.0.0.0' ? '127.0.0.1' : listener.host === '::' ? '::1' : listener.host;
  const implicit = listenerTls(listener, config.tls !== undefined) === 'implicit';
  return new Promise((resolve, reject) => {
    // The check asks whether the proxy answers, not who it is: its certificate is not verified.
    const socket = implicit ? tls.connect({ host, port: listener.port, rejectUnauthorized: false }) : net.connect({ host, port: listener.port });
    if (listener.proxyProtocol) socket.write(PROXY_V2_LOCAL);
    const timer = setTimeout(() => fail(new Error('no banner in time')), TIMEOUT + config.limits.greetDelay);
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    socket.on('error', fail);
    socket.once('data', (chunk) => {
      clearTimeout(timer);
      const line = chunk.toString('latin1').split('\r\n')[0] ?? '';
      socket.end('QUIT\r\n');
      if (line.startsWith('220')) resolve(line);
      else reject(new Error(`banner: ${line}`));
    });
  });
}

/** Banner, EHLO and QUIT as the proxy would (also the metrics listener's /readyz); by default the first server. */
export async function upstream(config: Config, server = upstreamServers(config.upstream)[0]!): Promise<string> {
  const { upstream: settings, listen } = config;
  const client = await UpstreamClient.connect({
    host: server.host,
    port: server.port,
    localName: settings.helo ?? listen.hostname,
    connectTimeout: TIMEOUT,
    commandTimeout: TIMEOUT,
    dataTimeout: TIMEOUT,
    tls: { mode: 'off', rejectUnauthorized: false },
  });
  const text = `${client.banner.code} ${client.banner.text}`;
  const noXclient = settings.xclient && !client.capabilities.xclientAttributes.has('ADDR');
  const seenAs = client.localAddress ?? "the proxy's address";
  await client.quit();
  // The proxy relays nothing then (SSP_ERR_UPSTREAM_NO_XCLIENT), so it is a failed check.
  if (noXclient) {
    throw new Error(`${text}, but no XCLIENT offered to ${seenAs}: add it to Postfix's smtpd_authorized_xclient_hosts, or set upstream.xclient: false`);
  }
  return settings.xclient ? `${text}; XCLIENT offered` : text;
}
