import diagnosticsChannel, { type Channel } from 'node:diagnostics_channel';

/**
 * What the rooms tell whoever listens (src/metrics/ today), through node:diagnostics_channel as
 * undici does: a room publishes a small value and knows nothing of Prometheus; with nobody
 * subscribed a publish costs one property read.
 */

/**
 * A client connection: `opened` when smtp-server takes it, `closed` when it is gone (the two
 * pair up, so open = opened - closed); `refused` before the banner, and why.
 */
export type ConnectionEvent =
  | { readonly event: 'opened' | 'closed' }
  | { readonly event: 'refused'; readonly reason: ConnectionRefusal };

export type ConnectionRefusal = 'draining' | 'per-address-limit' | 'screening' | 'error';

/** Every message's end, once: relayed, refused by us and why, refused by the upstream, or failed. */
export interface MessageEvent {
  readonly outcome: MessageOutcome;
  readonly bytes: number;
}

export type MessageOutcome =
  | 'relayed'
  | 'virus'
  | 'spam'
  | 'banned'
  | 'size'
  | 'bare-lf'
  | 'scanner-tempfail'
  | 'upstream-4xx'
  | 'upstream-5xx'
  /** Refused by a policy decision none of the above names. */
  | 'rejected-other'
  /** A fault (upstream lost, spool error) answered with 4xx, or the client went away. */
  | 'failed';

/**
 * A message relayed in observe mode (policy.mode) that enforce mode would have refused, and
 * why; the message's own event says relayed (or what the upstream said).
 */
export interface ObservedEvent {
  readonly outcome: MessageOutcome;
}

/** One scanner's scan of one message; `queueWaitSeconds` when it waited for a slot in its queue. */
export interface ScanEvent {
  readonly scanner: string;
  readonly seconds: number;
  /**
   * The verdict's kind (clean, infected, scored, banned, error, skipped), or aborted: stopped
   * by the stage (decided by another scanner, the stage deadline, the client gone).
   */
  readonly outcome: string;
  readonly errorKind?: string;
  readonly queueWaitSeconds?: number;
}

/** A scanner's queue changed: scans waiting for a slot and scans running. */
export interface ScannerQueueEvent {
  readonly scanner: string;
  readonly waiting: number;
  readonly running: number;
}

/** A reply from the upstream: the verb we sent (DATA for both 354 and the final reply) and its class. */
export interface UpstreamReplyEvent {
  readonly command: string;
  readonly class: '2xx' | '3xx' | '4xx' | '5xx';
}

/** Upstream sessions: one opened or closed, or one put into or taken out of the pool. */
export interface UpstreamSessionEvent {
  readonly event: 'opened' | 'closed' | 'pooled' | 'unpooled';
}

/** Message bytes held: a change (+/-) in memory or in spool files. */
export interface SpoolEvent {
  readonly where: 'memory' | 'disk';
  readonly delta: number;
}

/**
 * Screening: the verdict for each screened connection (allowlisted, pass, suspicious, listed,
 * denied) with the DNS lists that scored it (`lists`, by their configured name), or a rate
 * limit that refused something (`limit`: connections, messages, recipients, recipientsPerSender).
 */
export type ScreenEvent = { readonly verdict: string; readonly lists: readonly string[] } | { readonly limit: string };

/**
 * Mail from an authenticated account refused before it reached the upstream: over one of its
 * limits (`limit`: messagesPerHour, messagesPerDay, recipientsPerHour, recipientsPerDay), or a
 * sender address the login may not use.
 */
export type AccountEvent = { readonly event: 'over-limit'; readonly limit: string } | { readonly event: 'sender-refused' };

/**
 * AUTH on a submission listener: accepted, failed (wrong password, unknown user, the upstream's
 * refusal), or refused unchecked because a failed-login limit was reached.
 */
export interface LoginEvent {
  readonly result: 'accepted' | 'failed' | 'refused';
}

/**
 * One of several upstream servers or scanner endpoints found healthy or not: at each upstream
 * probe, and when an endpoint is marked down or answers again (src/upstream/servers.ts,
 * src/scan/endpoints.ts). Only where there are several to choose from.
 */
export type HealthEvent =
  | { readonly kind: 'upstream'; readonly server: string; readonly healthy: boolean }
  | { readonly kind: 'scanner'; readonly scanner: string; readonly endpoint: string; readonly healthy: boolean };

/** One named channel with a typed payload. */
export class Topic<T extends object> {
  readonly channel: Channel;

  constructor(readonly name: string) {
    this.channel = diagnosticsChannel.channel(name);
  }

  publish(event: T): void {
    if (this.channel.hasSubscribers) this.channel.publish(event);
  }

  /** Returns the unsubscribe. */
  subscribe(listener: (event: T) => void): () => void {
    const handler = (message: unknown) => listener(message as T);
    this.channel.subscribe(handler);
    return () => this.channel.unsubscribe(handler);
  }
}

export const events = {
  connection: new Topic<ConnectionEvent>('smtp-scan-proxy:connection'),
  message: new Topic<MessageEvent>('smtp-scan-proxy:message'),
  observed: new Topic<ObservedEvent>('smtp-scan-proxy:observed'),
  scan: new Topic<ScanEvent>('smtp-scan-proxy:scan'),
  scannerQueue: new Topic<ScannerQueueEvent>('smtp-scan-proxy:scanner-queue'),
  upstreamReply: new Topic<UpstreamReplyEvent>('smtp-scan-proxy:upstream-reply'),
  upstreamSession: new Topic<UpstreamSessionEvent>('smtp-scan-proxy:upstream-session'),
  spool: new Topic<SpoolEvent>('smtp-scan-proxy:spool'),
  health: new Topic<HealthEvent>('smtp-scan-proxy:health'),
  screen: new Topic<ScreenEvent>('smtp-scan-proxy:screen'),
  account: new Topic<AccountEvent>('smtp-scan-proxy:account'),
  login: new Topic<LoginEvent>('smtp-scan-proxy:login'),
};

/** The reply class label of a code. */
export function replyClass(code: number): UpstreamReplyEvent['class'] {
  return code >= 500 ? '5xx' : code >= 400 ? '4xx' : code >= 300 ? '3xx' : '2xx';
}
