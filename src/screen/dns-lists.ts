import { Resolver } from 'node:dns/promises';
import type { Logger } from 'pino';
import { z } from 'zod';
import { duration } from '../config/units.js';
import type { SmtpReply } from '../smtp/reply.js';
import { blockedClientReply } from './blocked-reply.js';
import { answerFilter, answerSpecError, isErrorAnswer, type AnswerFilter } from './dns-answer-filter.js';
import { DnsCache } from './dns-cache.js';
import { queryName } from './dns-query-name.js';
import { unmapIPv4 } from './ip-address.js';

const server = z.string().refine((value) => {
  try {
    new Resolver().setServers([value]);
    return true;
  } catch {
    return false;
  }
}, 'a DNS server address with an optional port: 127.0.0.1, 127.0.0.1:10053, [::1]:53');

const zone = z.strictObject({
  zone: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+\.?$/, 'a DNS zone such as zen.spamhaus.org')
    .transform((name) => name.replace(/\.$/, '')),
  /** Shown in replies instead of the zone, which for Spamhaus DQS carries the secret key. */
  name: z.string().regex(/^[\x20-\x7e]*[\x21-\x7e][\x20-\x7e]*$/, 'printable ASCII, one line').optional(),
  /** Answers that count as a listing; default any 127.0.0.0/8 answer. */
  answers: z
    .array(
      z.string().superRefine((spec, ctx) => {
        const error = answerSpecError(spec);
        if (error) ctx.addIssue({ code: 'custom', message: error });
      }),
    )
    .min(1)
    .optional(),
  /** Added to the score once when the zone lists the client; negative for allow lists (DNSWL). */
  weight: z.number().int().default(1),
  /** Also look up IPv6 clients (nibble-reversed); most lists only carry IPv4. */
  ipv6: z.boolean().default(false),
});

export const dnsListsSchema = z
  .strictObject({
    resolver: z
      .strictObject({
        /** Empty: the system's resolvers (/etc/resolv.conf). */
        servers: z.array(server).default([]),
        /** For all zones of one client together: screening never waits longer. */
        timeout: duration.default(2_000),
      })
      .prefault({}),
    /** A score at or above it is listed. */
    threshold: z.number().int().default(1),
    /** A score at or below it is allow-listed: no rate limits, no tarpit (content is still scanned). */
    allowlistThreshold: z.number().int().default(-1),
    zones: z.array(zone).default([]),
  })
  .refine((lists) => lists.allowlistThreshold < lists.threshold, {
    message: 'allowlistThreshold must be below threshold (a client cannot be both listed and allow-listed)',
    path: ['allowlistThreshold'],
  })
  .prefault({});

export type DnsListsSettings = z.infer<typeof dnsListsSchema>;

export type DnsListHit = { zone: string; name: string; weight: number; answers: string[] };
export type DnsListError = { zone: string; kind: 'error-answer' | 'not-counted' | 'timeout' | 'failure'; detail: string };
export type DnsListResult = {
  score: number;
  /** score >= threshold */
  listed: boolean;
  /** score <= allowlistThreshold */
  allowlisted: boolean;
  hits: DnsListHit[];
  errors: DnsListError[];
};

/** A resolve4 with TTLs; the real one is node's, tests pass their own. */
export type Resolve4 = (name: string) => Promise<{ address: string; ttl: number }[]>;
export type DnsListsOptions = { resolve4?: Resolve4; now?: () => number; cacheSize?: number };

type Lookup = { answers: readonly string[] } | { failure: 'timeout' | 'failure'; detail: string };
type Zone = DnsListsSettings['zones'][number] & { filter: AnswerFilter; displayName: string };

/** How often one zone may log the same kind of trouble: a broken list must not flood the log. */
const LOG_INTERVAL_MS = 60_000;
const NOT_LISTED = new Set(['ENOTFOUND', 'ENODATA']);

/**
 * DNSBL/DNSWL scoring as postscreen does it: every zone asked at once, each listing zone adds
 * its weight once, the sum compared with the thresholds. Anything but a counted answer counts
 * nothing (fail open): error answers, answers outside the zone's filter, DNS failures and
 * timeouts are reported in `errors` and logged, never taken as a listing.
 */
export class DnsLists {
  private readonly zones: Zone[];
  private readonly resolve4: Resolve4;
  private readonly cache: DnsCache;
  private readonly now: () => number;
  /** One query per name at a time: a flood from one address waits for the same answer. */
  private readonly inflight = new Map<string, Promise<Lookup>>();
  private readonly lastLogged = new Map<string, number>();

  constructor(
    private readonly settings: DnsListsSettings,
    private readonly logger: Pick<Logger, 'warn'>,
    options: DnsListsOptions = {},
  ) {
    this.zones = settings.zones.map((entry) => ({ ...entry, filter: answerFilter(entry.answers), displayName: entry.name ?? entry.zone }));
    this.now = options.now ?? Date.now;
    this.cache = new DnsCache({ now: this.now, ...(options.cacheSize === undefined ? {} : { maxEntries: options.cacheSize }) });
    this.resolve4 = options.resolve4 ?? systemResolve4(settings.resolver.servers, settings.resolver.timeout);
  }

  /**
   * Resolves within `resolver.timeout` with whatever answered by then. Rejects only when
   * `signal` aborts (the client went away), with the signal's reason.
   */
  async check(address: string, signal?: AbortSignal): Promise<DnsListResult> {
    signal?.throwIfAborted();
    const client = unmapIPv4(address);
    const asked = this.zones.flatMap((entry) => {
      const name = queryName(client, entry.zone, entry.ipv6);
      return name === undefined ? [] : [{ entry, lookup: this.lookup(name) }];
    });
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const deadline = new Promise<Lookup>((resolve, reject) => {
      const timeout = this.settings.resolver.timeout;
      timer = setTimeout(() => resolve({ failure: 'timeout', detail: `no answer within ${timeout} ms` }), timeout);
      onAbort = () => reject(signal!.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const lookups = await Promise.all(asked.map(({ lookup }) => Promise.race([lookup, deadline])));
      return this.score(client, asked.map(({ entry }, i) => ({ entry, lookup: lookups[i]! })));
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  private score(client: string, outcomes: { entry: Zone; lookup: Lookup }[]): DnsListResult {
    const hits: DnsListHit[] = [];
    const errors: DnsListError[] = [];
    for (const { entry, lookup } of outcomes) {
      if ('failure' in lookup) {
        errors.push({ zone: entry.zone, kind: lookup.failure, detail: lookup.detail });
        continue;
      }
      const counted = lookup.answers.filter(entry.filter);
      const refused = lookup.answers.filter(isErrorAnswer);
      const ignored = lookup.answers.filter((answer) => !entry.filter(answer) && !isErrorAnswer(answer));
      if (counted.length > 0) hits.push({ zone: entry.zone, name: entry.displayName, weight: entry.weight, answers: counted });
      if (refused.length > 0) errors.push({ zone: entry.zone, kind: 'error-answer', detail: `error answer ${refused.join(', ')}: the list refused the query (public resolver, over quota or a wrong key?)` });
      if (ignored.length > 0) errors.push({ zone: entry.zone, kind: 'not-counted', detail: `answer ${ignored.join(', ')} is outside the zone's answers` });
    }
    for (const error of errors) this.logError(client, error);
    const score = hits.reduce((sum, hit) => sum + hit.weight, 0);
    return { score, listed: score >= this.settings.threshold, allowlisted: score <= this.settings.allowlistThreshold, hits, errors };
  }

  private lookup(name: string): Promise<Lookup> {
    const cached = this.cache.get(name);
    if (cached) return Promise.resolve({ answers: cached });
    let pending = this.inflight.get(name);
    if (!pending) {
      pending = this.query(name).finally(() => this.inflight.delete(name));
      this.inflight.set(name, pending);
    }
    return pending;
  }

  private async query(name: string): Promise<Lookup> {
    try {
      const records = await this.resolve4(name);
      const answers = records.map((record) => record.address);
      this.cache.set(name, answers, Math.min(...records.map((record) => record.ttl)));
      return { answers };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      // NXDOMAIN carries no TTL we can read here; the cache's minimum applies.
      if (NOT_LISTED.has(code)) {
        this.cache.set(name, [], 0);
        return { answers: [] };
      }
      return { failure: code === 'ETIMEOUT' ? 'timeout' : 'failure', detail: code };
    }
  }

  private logError(client: string, error: DnsListError): void {
    const key = `${error.zone} ${error.kind}`;
    const last = this.lastLogged.get(key);
    if (last !== undefined && this.now() - last < LOG_INTERVAL_MS) return;
    this.lastLogged.set(key, this.now());
    this.logger.warn({ zone: error.zone, kind: error.kind, client }, `DNS list ${error.zone}: ${error.detail}; not counted (logged at most once a minute per zone)`);
  }
}

function systemResolve4(servers: readonly string[], timeout: number): Resolve4 {
  // One try per server: check() stops waiting at the timeout anyway, and a retry would only
  // keep a query the client no longer waits for.
  const resolver = new Resolver({ timeout, tries: 1 });
  if (servers.length > 0) resolver.setServers(servers);
  return (name) => resolver.resolve4(name, { ttl: true });
}

/**
 * The reply for a listed client: 521 at connect (`drop`), 550 at each RCPT (`enforce`),
 * naming the listing zone of the highest weight (the first in the config on a tie).
 */
export function listedReply(address: string, result: DnsListResult, action: 'drop' | 'enforce'): SmtpReply {
  const top = result.hits.reduce<DnsListHit | undefined>((best, hit) => (best === undefined || hit.weight > best.weight ? hit : best), undefined);
  return blockedClientReply(address, top?.name ?? 'DNS lists', action);
}
