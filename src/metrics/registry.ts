import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { events } from '../observe/events.js';

export const PREFIX = 'smtp_scan_proxy_';

/** Seconds: a scan takes milliseconds (clamd, a small message) to a minute (spamd, a large one). */
const SCAN_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** Waiting for a scanner slot is zero until the queue backs up. */
const WAIT_BUCKETS = [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface ProxyMetrics {
  readonly registry: Registry;
  /** Stops listening to the rooms' events. */
  close(): void;
}

/**
 * The proxy's metrics: a registry of its own (never prom-client's global one) fed by the
 * rooms' events (src/observe/events.ts). `defaults` adds the process metrics (memory, CPU,
 * event loop lag), prefixed too.
 */
export function createMetrics(options: { defaults: boolean } = { defaults: true }): ProxyMetrics {
  const registry = new Registry();
  const registers = [registry];
  const name = (suffix: string) => `${PREFIX}${suffix}`;

  const connectionsOpen = new Gauge({ name: name('connections_open'), help: 'Client connections open now', registers });
  const connectionsAccepted = new Counter({
    name: name('connections_accepted_total'),
    help: 'Client connections taken, including those refused before the banner',
    registers,
  });
  const connectionsRefused = new Counter({
    name: name('connections_refused_total'),
    help: 'Client connections refused before the banner, by reason',
    labelNames: ['reason'],
    registers,
  });
  const messages = new Counter({ name: name('messages_total'), help: 'Messages by outcome', labelNames: ['outcome'], registers });
  const messageBytes = new Counter({
    name: name('message_bytes_total'),
    help: 'Bytes of messages received, by outcome',
    labelNames: ['outcome'],
    registers,
  });
  const observed = new Counter({
    name: name('messages_observed_total'),
    help: 'Messages observe mode let through that would have been refused, by that outcome',
    labelNames: ['outcome'],
    registers,
  });
  const scanSeconds = new Histogram({
    name: name('scan_seconds'),
    help: 'Time of one scan (queue wait included), by scanner and verdict',
    labelNames: ['scanner', 'outcome'],
    buckets: SCAN_BUCKETS,
    registers,
  });
  const scannerErrors = new Counter({
    name: name('scanner_errors_total'),
    help: 'Scans that ended in an error verdict, by scanner and kind',
    labelNames: ['scanner', 'kind'],
    registers,
  });
  const queueWaiting = new Gauge({
    name: name('scanner_queue_waiting'),
    help: 'Scans waiting for a slot, by scanner',
    labelNames: ['scanner'],
    registers,
  });
  const queueRunning = new Gauge({ name: name('scanner_queue_running'), help: 'Scans running, by scanner', labelNames: ['scanner'], registers });
  const queueWait = new Histogram({
    name: name('scanner_queue_wait_seconds'),
    help: 'Time a scan waited for a slot in its scanner\'s queue',
    labelNames: ['scanner'],
    buckets: WAIT_BUCKETS,
    registers,
  });
  const upstreamReplies = new Counter({
    name: name('upstream_replies_total'),
    help: 'Replies from the upstream, by the command we sent and the reply class',
    labelNames: ['command', 'class'],
    registers,
  });
  const upstreamOpen = new Gauge({ name: name('upstream_sessions_open'), help: 'Upstream SMTP sessions open now', registers });
  const upstreamPooled = new Gauge({
    name: name('upstream_sessions_pooled'),
    help: 'Upstream sessions idle in the pool, waiting for the next client',
    registers,
  });
  // With workers each sees the server for itself; the primary shows the worst of them (min).
  const upstreamUp = new Gauge({
    name: name('upstream_server_up'),
    help: 'With upstream.servers: 1 while a server is taking new sessions, 0 while it is skipped',
    labelNames: ['server'],
    aggregator: 'min',
    registers,
  });
  const endpointUp = new Gauge({
    name: name('scanner_endpoint_up'),
    help: 'With a scanner\'s servers: 1 while an endpoint is taking scans, 0 while it is skipped',
    labelNames: ['scanner', 'endpoint'],
    aggregator: 'min',
    registers,
  });
  const upstreamOpened = new Counter({ name: name('upstream_sessions_opened_total'), help: 'Upstream SMTP sessions opened', registers });
  const spoolBytes = new Gauge({
    name: name('spool_bytes'),
    help: 'Message bytes held now, in memory or in spool files (where)',
    labelNames: ['where'],
    registers,
  });
  const screened = new Counter({
    name: name('screening_total'),
    help: 'Connections screened, by verdict',
    labelNames: ['verdict'],
    registers,
  });
  const listed = new Counter({
    name: name('screening_list_hits_total'),
    help: 'Screened connections a DNS list scored, by list',
    labelNames: ['list'],
    registers,
  });
  const rateLimited = new Counter({
    name: name('rate_limited_total'),
    help: 'Connections, messages or recipients refused by a rate limit, by limit',
    labelNames: ['limit'],
    registers,
  });
  const accountOverLimit = new Counter({
    name: name('account_over_limit_total'),
    help: 'MAIL or RCPT commands of an authenticated account refused by its outbound limits, by limit',
    labelNames: ['limit'],
    registers,
  });
  const senderRefused = new Counter({
    name: name('sender_refused_total'),
    help: 'MAIL commands of an authenticated account refused because the login may not use that sender',
    registers,
  });
  const logins = new Counter({
    name: name('logins_total'),
    help: 'AUTH on submission listeners, by result: accepted, failed (wrong password), refused (over a failed-login limit)',
    labelNames: ['result'],
    registers,
  });
  // Present from the first scrape, so rate() and absent() work before the first event.
  spoolBytes.set({ where: 'memory' }, 0);
  spoolBytes.set({ where: 'disk' }, 0);

  const unsubscribe = [
    events.connection.subscribe((event) => {
      if (event.event === 'opened') {
        connectionsAccepted.inc();
        connectionsOpen.inc();
      } else if (event.event === 'closed') connectionsOpen.dec();
      else if (event.event === 'refused') connectionsRefused.inc({ reason: event.reason });
    }),
    events.message.subscribe(({ outcome, bytes }) => {
      messages.inc({ outcome });
      messageBytes.inc({ outcome }, bytes);
    }),
    events.observed.subscribe(({ outcome }) => observed.inc({ outcome })),
    events.scan.subscribe(({ scanner, seconds, outcome, errorKind, queueWaitSeconds }) => {
      scanSeconds.observe({ scanner, outcome }, seconds);
      if (errorKind) scannerErrors.inc({ scanner, kind: errorKind });
      if (queueWaitSeconds !== undefined) queueWait.observe({ scanner }, queueWaitSeconds);
    }),
    events.scannerQueue.subscribe(({ scanner, waiting, running }) => {
      queueWaiting.set({ scanner }, waiting);
      queueRunning.set({ scanner }, running);
    }),
    events.upstreamReply.subscribe((event) => upstreamReplies.inc({ command: event.command, class: event.class })),
    events.upstreamSession.subscribe(({ event }) => {
      if (event === 'opened') {
        upstreamOpened.inc();
        upstreamOpen.inc();
      } else if (event === 'closed') upstreamOpen.dec();
      else if (event === 'pooled') upstreamPooled.inc();
      else upstreamPooled.dec();
    }),
    events.spool.subscribe(({ where, delta }) => spoolBytes.inc({ where }, delta)),
    events.health.subscribe((event) => {
      if (event.kind === 'upstream') upstreamUp.set({ server: event.server }, Number(event.healthy));
      else endpointUp.set({ scanner: event.scanner, endpoint: event.endpoint }, Number(event.healthy));
    }),
    events.account.subscribe((event) => (event.event === 'over-limit' ? accountOverLimit.inc({ limit: event.limit }) : senderRefused.inc())),
    events.login.subscribe(({ result }) => logins.inc({ result })),
    events.screen.subscribe((event) => {
      if ('limit' in event) return rateLimited.inc({ limit: event.limit });
      screened.inc({ verdict: event.verdict });
      for (const list of event.lists) listed.inc({ list });
    }),
  ];
  if (options.defaults) collectDefaultMetrics({ register: registry, prefix: PREFIX });
  return {
    registry,
    close: () => {
      for (const stop of unsubscribe) stop();
    },
  };
}
