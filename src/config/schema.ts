import os from 'node:os';
import { z } from 'zod';
import { outboundSchema, outboundThresholdsSchema } from '../outbound/config.js';
import { exchangeSchema, receivedSchema } from '../message/config.js';
import { dkimSchema } from '../dkim/config.js';
import { screeningSchema } from '../screen/config.js';
import { checkListeners, listenEntries, listenerRoleKeys } from '../server/listener-settings.js';
import { checkSmtpdProxyTimeout, xforwardSchema } from '../server/xforward-peers.js';
import { upstreamChunkingKeys } from '../upstream/chunking-config.js';
import { upstreamServersKeys } from '../upstream/servers-config.js';
import { byteSize, duration } from './units.js';

/**
 * The one source of truth for configuration: defaults, validation and the Config type.
 * Public keys are only ever added, never renamed (README "Configuration").
 */
const port = z.number().int().min(1).max(65535);
const account = z.string().regex(/^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$/, 'a user or group name, or a number');
const hostname = z.string().min(1).regex(/^[A-Za-z0-9.:[\]_-]+$/, 'a host name or address');

/** One listener; `listen` takes one or a list (listenEntries). */
export const listenerSchema = z
  .strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    /** 0 picks a free port (tests). */
    port: z.number().int().min(0).max(65535).default(2525),
    /** Our name in the banner and the EHLO reply. */
    hostname: hostname.default(os.hostname()),
    /** Look up the client's PTR name (passed on with XCLIENT NAME/REVERSE_NAME). */
    reverseLookup: z.boolean().default(true),
    /**
     * Behind a load balancer: every connection starts with a PROXY protocol header (v1 or v2)
     * naming the real client; only from these peers, within this time (src/server/proxy-accept.ts).
     */
    proxyProtocol: z
      .strictObject({
        /** Ranges (10.0.0.0/8) or single addresses of the balancers allowed to send the header. */
        trusted: z
          .array(z.union([z.cidrv4(), z.cidrv6(), z.ipv4(), z.ipv6()], { error: 'an address or CIDR range such as 10.0.0.0/8 or 2001:db8::/32' }))
          .min(1),
        timeout: duration.default(5_000),
      })
      .optional(),
    ...listenerRoleKeys,
    /** As Postfix's before-queue filter: trusted peers name the real client with XFORWARD (src/server/xforward-peers.ts). */
    xforward: xforwardSchema.optional(),
  })
  .prefault({});

const upstream = z
  .strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    port: port.default(25),
    xclient: z.boolean().default(true),
    /** Our EHLO name towards the upstream; defaults to listen.hostname. */
    helo: hostname.optional(),
    starttls: z.enum(['off', 'opportunistic', 'required']).default('opportunistic'),
    tlsVerify: z.boolean().default(false),
    tlsCa: z.string().min(1).optional(),
    /**
     * Upstream sessions kept open between clients (per worker), handed to the next client with
     * a new XCLIENT; 0 closes each one when its client leaves.
     */
    poolSize: z.number().int().min(0).default(16),
    /** How long a pooled session may wait for its next client. */
    poolIdle: duration.default(30_000),
    connectTimeout: duration.default(30_000),
    commandTimeout: duration.default(120_000),
    dataTimeout: duration.default(300_000),
    /**
     * NOOP to the upstream this often while a message arrives and is scanned, so the upstream
     * does not drop the session as idle (Postfix smtpd_timeout and Exchange: 5 minutes); 0: never.
     */
    keepAlive: duration.default(60_000),
    ...upstreamServersKeys,
    ...upstreamChunkingKeys,
  })
  .prefault({});

const tls = z.strictObject({
  key: z.string().min(1),
  cert: z.string().min(1),
});

const limits = z
  .strictObject({
    maxMessageSize: byteSize.default(52_428_800),
    maxClients: z.number().int().min(1).default(1000),
    maxRecipients: z.number().int().min(1).default(1000),
    /** A client that completes no command for this long is disconnected with 421 (slowloris too). */
    idleTimeout: duration.default(300_000),
    /** The whole DATA phase, from the 354 to our reply; a message trickled in longer is cut off. */
    dataTimeout: duration.default(600_000),
    /** A command line longer than this ends the connection with 421 (RFC 5321 allows 512). */
    maxLineLength: z.number().int().min(512).default(4096),
    /** Negative replies on one connection before it is closed with 421 (Postfix: 20). */
    maxErrors: z.number().int().min(1).default(20),
    /** Connections at once from one client address; 0 means no limit. */
    maxClientsPerIp: z.number().int().min(0).default(50),
    /** The whole scanning stage of one message, all scanners together. */
    scanDeadline: duration.default(120_000),
    bareLineFeed: z.enum(['normalize', 'reject']).default('normalize'),
    /**
     * Pause before the banner; a client that talks before it is an early talker (a bot) and
     * gets 421. 0 for trusted relays; a few seconds for the internet catches more bots.
     */
    greetDelay: duration.default(100),
  })
  .prefault({});

const spool = z
  .strictObject({
    /**
     * Default (src/spool/spool-dir.ts): /var/spool/smtp-scan-proxy when root or `user` runs the
     * proxy, else a fresh private directory under the temp dir for each start.
     */
    dir: z.string().min(1).optional(),
    /** A message larger than this goes to a temp file. */
    memoryPerMessage: byteSize.default(1024 * 1024),
    /** All messages held in memory at once; beyond it new messages go to temp files. */
    memoryTotal: byteSize.default(64 * 1024 * 1024),
  })
  .prefault({});

const log = z
  .strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .prefault({});

const policy = z
  .strictObject({
    /**
     * observe: scanners' findings (virus, banned part, spam) are tagged and logged, never
     * refused; a dry run in front of a working server. Faults still follow each onError.
     */
    mode: z.enum(['enforce', 'observe']).default('enforce'),
  })
  .prefault({});

/** The Prometheus listener (/metrics, /healthz, /readyz); off unless configured. */
const metrics = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  /** 0 picks a free port (tests). */
  port: z.number().int().min(0).max(65535),
});

const shutdown = z
  .strictObject({
    /** How long in-flight transactions may take to finish after SIGTERM. */
    timeout: duration.default(30_000),
  })
  .prefault({});

/** Keys every scanner entry has; its type adds its own (see src/scan/registry.ts). */
export const commonScannerKeys = {
  type: z.string().min(1),
  name: z.string().min(1).regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and -').optional(),
  concurrency: z.number().int().min(1).optional(),
  maxQueue: z.number().int().min(0).optional(),
  timeout: duration.optional(),
  onError: z.enum(['tempfail', 'accept']).optional(),
  maxSize: byteSize.optional(),
  onOversize: z.enum(['skip', 'truncate', 'tempfail']).optional(),
  /** For engines that score (spamassassin): at or over this, reject with 550. */
  rejectScore: z.number().optional(),
  /** For engines that score: over this, pass with X-Spam-Flag: YES. */
  tagScore: z.number().optional(),
  /** Overrides policy.mode for this scanner's findings. */
  mode: z.enum(['enforce', 'observe']).optional(),
  /** Several endpoints of one engine, each the type's own keys ({ host, port } or { socket }) over the entry's. */
  servers: z.array(z.looseObject({})).min(1).optional(),
  /** rejectScore and tagScore for mail from submission listeners; each defaults to the one above. */
  outbound: outboundThresholdsSchema.optional(),
};

export const baseSchema = z.strictObject({
  /** One listener or a list of them (src/server/listener-settings.ts). */
  listen: listenEntries(listenerSchema),
  upstream,
  tls: tls.optional(),
  limits,
  spool,
  log,
  policy,
  shutdown,
  metrics: metrics.optional(),
  /** Cheap checks of each client before the banner (DNS lists, access list, rate limits, tarpit). */
  screening: screeningSchema.optional(),
  /** DKIM signing of mail from authenticated sessions and configured networks (src/dkim/). */
  dkim: dkimSchema.optional(),
  /** Our own Received header (src/message/trace-header.ts); Exchange's SCL and headers no client may set. */
  received: receivedSchema,
  exchange: exchangeSchema,
  /** Mail from submission listeners: senders per login, per-account limits (src/outbound/). */
  outbound: outboundSchema,
  /**
   * Processes sharing the listener (node:cluster); defaults to the number of CPUs. Client,
   * memory and scanner-queue limits are split between them.
   */
  workers: z.number().int().min(1).max(256).default(os.availableParallelism()),
  /** Modules that export extra scanner types (see README "Writing a scanner"). */
  plugins: z.array(z.string().min(1)).default([]),
  /** Each entry is validated against its type's schema by load.ts. */
  scanners: z.array(z.looseObject({ type: z.string().min(1) })).default([]),
  /**
   * Started as root: the account (and group; default: the user's own) the proxy switches to
   * once its listeners are bound (src/privileges.ts). Names or numbers, as getent takes them.
   */
  user: account.optional(),
  group: account.optional(),
}).refine((config) => !config.group || config.user, { path: ['group'], message: 'needs user as well' })
  .superRefine(checkListeners)
  .superRefine(checkSmtpdProxyTimeout);

export type BaseConfig = z.output<typeof baseSchema>;
