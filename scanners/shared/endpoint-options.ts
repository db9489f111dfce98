import { z } from 'zod';
import type { Endpoint } from './engine-socket.js';

/**
 * Where an engine listens: TCP host and port, or a unix socket, never both (see oneEndpoint).
 * No defaults for host/port in the schema: a default would make them look set next to
 * `socket`; endpointOf() fills them in.
 */
export const endpointKeys = {
  host: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  /** The engine's unix socket: clamd's LocalSocket, spamd's --socketpath, Rspamd's bind_socket. */
  socket: z.string().min(1).optional(),
};

export interface EndpointOptions {
  readonly host?: string | undefined;
  readonly port?: number | undefined;
  readonly socket?: string | undefined;
}

/** For `.refine(...oneEndpoint)` on an engine's options. */
export const oneEndpoint: [(options: EndpointOptions) => boolean, { message: string; path: string[] }] = [
  (options) => options.socket === undefined || (options.host === undefined && options.port === undefined),
  { message: 'set either socket or host/port, not both', path: ['socket'] },
];

/** The socket when set, else host (default loopback) and the engine's usual port. */
export function endpointOf(options: EndpointOptions, defaultPort: number): Endpoint {
  return options.socket === undefined ? { host: options.host ?? '127.0.0.1', port: options.port ?? defaultPort } : { path: options.socket };
}
