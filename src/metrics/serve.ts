import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Readiness } from './readiness.js';

export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface MetricsListener {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/**
 * The metrics listener: /metrics for Prometheus, /healthz (this process answers: 200) and
 * /readyz (200, or 503 with one line per failed check) for Kubernetes probes and the Docker
 * health check. GET and HEAD only; anything else is 404 or 405.
 */
export function serveMetrics(
  settings: { readonly host: string; readonly port: number },
  source: MetricsSource,
  readiness: Readiness,
  logger: Logger,
): Promise<MetricsListener> {
  const server = http.createServer((request, response) => {
    void answer(request, response, source, readiness).catch((error: unknown) => {
      logger.error({ err: error, path: request.url }, 'metrics request failed');
      if (!response.headersSent) send(response, 500, 'text/plain; charset=utf-8', 'metrics unavailable\n');
      else response.destroy();
    });
  });
  // Probes and scrapes come often; a kept-alive idle socket is no use between them.
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host, () => {
      server.off('error', reject);
      const address = server.address() as AddressInfo;
      logger.info({ metrics: address }, 'metrics listening');
      resolve({
        address,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

async function answer(
  request: http.IncomingMessage,
  response: http.ServerResponse,
  source: MetricsSource,
  readiness: Readiness,
): Promise<void> {
  const path = new URL(request.url ?? '/', 'http://metrics').pathname;
  const text = 'text/plain; charset=utf-8';
  if (path !== '/metrics' && path !== '/healthz' && path !== '/readyz') return send(response, 404, text, 'not found: try /metrics, /healthz or /readyz\n');
  if (request.method !== 'GET' && request.method !== 'HEAD') return send(response, 405, text, 'GET or HEAD only\n', { allow: 'GET, HEAD' });
  if (path === '/healthz') return send(response, 200, text, 'ok\n');
  if (path === '/readyz') {
    const { ready, failures } = await readiness.check();
    return ready ? send(response, 200, text, 'ready\n') : send(response, 503, text, `not ready\n${failures.join('\n')}\n`);
  }
  send(response, 200, source.contentType, await source.metrics());
}

function send(response: http.ServerResponse, status: number, contentType: string, body: string, headers: http.OutgoingHttpHeaders = {}): void {
  response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), ...headers });
  response.end(response.req.method === 'HEAD' ? undefined : body);
}
