import { z } from 'zod';
import { duration } from '../config/units.js';

/** One upstream MTA among several; lower priority first, as MX records. */
const server = z.strictObject({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(25),
  priority: z.number().int().min(0).max(65535).default(10),
  /** Share of new sessions among the healthy servers of the same priority. */
  weight: z.number().int().min(1).max(1000).default(1),
});

export type UpstreamServerConfig = z.output<typeof server>;

/** The keys `upstream` gains for several servers (src/config/schema.ts spreads them in). */
export const upstreamServersKeys = {
  /** Replaces host and port when given; each new upstream session goes to one of these. */
  servers: z.array(server).min(1).optional(),
  /** With several servers, each is probed (banner and EHLO) this often; a failed one is skipped until it passes. */
  probeInterval: duration.pipe(z.number().min(500, 'at least 500ms')).default(10_000),
};

/** The servers an upstream config names: the list, or its single host and port. */
export function upstreamServers(upstream: { host: string; port: number; servers?: readonly UpstreamServerConfig[] | undefined }): readonly UpstreamServerConfig[] {
  return upstream.servers ?? [{ host: upstream.host, port: upstream.port, priority: 0, weight: 1 }];
}

/** `host:port`, bracketed for an IPv6 address. */
export function serverLabel(server: { host: string; port: number }): string {
  return `${server.host.includes(':') ? `[${server.host}]` : server.host}:${server.port}`;
}
