import type { SMTPServerSession } from 'smtp-server';
import type { Config } from '../config/load.js';
import type { Decision, HeaderEdits } from '../policy/decision.js';
import { SCL_HEADER, sclFor, type SclSettings } from '../policy/exchange-scl.js';
import type { HeaderSettings } from '../policy/verdict-headers.js';
import { confirmedName } from '../session/client-identity.js';
import { forwardedAddress } from '../session/forwarded-client.js';
import { receivedHeader, type TraceFacts } from './trace-header.js';

export interface MessageHeaderSettings {
  /** Our name in the Received header's "by" clause (listen.hostname, as in our banner). */
  readonly hostname: string;
  readonly received: 'auto' | 'always' | 'never';
  readonly scl: SclSettings | undefined;
  /** Client-sent fields removed from every message (exchange.removeHeaders). */
  readonly removeHeaders: readonly string[];
  readonly scanners: ReadonlyMap<string, HeaderSettings>;
}

export function messageHeaderSettings(config: Config): MessageHeaderSettings {
  return {
    // One name for every listener: the first one's, as the verdict headers' "at" (ScanningStage).
    hostname: config.listen.hostname,
    received: config.received,
    scl: config.exchange.scl,
    removeHeaders: config.exchange.removeHeaders,
    scanners: new Map(config.scanners.map(({ name, category, tagScore }) => [name, { category, tagScore }])),
  };
}

/** The hop a message came in on, as the session knows it when the message goes on. */
export interface Hop {
  readonly session: SMTPServerSession;
  /** The upstream session took the client's identity with XCLIENT: its Received names the client. */
  readonly carriesClient: boolean;
  readonly user: string | undefined;
}

/**
 * Every header change to a passed message, applied in one pass over its header block: the
 * policy's (verdict headers, forged X-Spam-* removed), the Exchange headers no client may set,
 * our SCL, and our Received line on top, where a trace header belongs.
 *
 * `received: auto` leaves ours out when a Received header names the client already: the
 * upstream's, after XCLIENT, or that of the MTA in front that named the client to us with
 * XFORWARD (Postfix's smtpd before smtpd_proxy_filter writes it before the message reaches us).
 */
export async function messageHeaderEdits(
  decision: Extract<Decision, { action: 'pass' }>,
  settings: MessageHeaderSettings,
  hop: Hop,
  now = new Date(),
): Promise<HeaderEdits> {
  const { remove, add } = decision.headers;
  const scl = settings.scl && decision.results ? sclFor(decision.results, settings.scanners, settings.scl) : undefined;
  const named = hop.carriesClient || forwardedAddress(hop.session) !== undefined;
  const trace = settings.received === 'always' || (settings.received === 'auto' && !named);
  return {
    remove: [...remove, ...settings.removeHeaders, ...(settings.scl ? [SCL_HEADER] : [])],
    add: [
      ...(trace ? [receivedHeader(await traceFacts(hop), settings.hostname, now)] : []),
      ...add,
      ...(scl === undefined ? [] : [[SCL_HEADER, String(scl)] as const]),
    ],
  };
}

async function traceFacts({ session, user }: Hop): Promise<TraceFacts> {
  const ptr = session.clientHostname && !session.clientHostname.startsWith('[') ? session.clientHostname : undefined;
  // A PTR name anyone can set for their own addresses: written only when it resolves back.
  const name = ptr && (await confirmedName(ptr, session.remoteAddress)) === ptr ? ptr : undefined;
  const { tlsOptions } = session;
  return {
    helo: session.hostNameAppearsAs || false,
    name,
    address: session.remoteAddress,
    ehlo: session.openingCommand === 'EHLO',
    utf8: session.envelope.smtpUtf8 === true,
    tls: session.secure && tlsOptions ? { version: tlsOptions.version, cipher: tlsOptions.name } : undefined,
    authenticated: user !== undefined,
    id: session.id,
    recipients: session.envelope.rcptTo.map((rcpt) => rcpt.address),
  };
}
