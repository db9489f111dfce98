import type { SMTPServerSession } from 'smtp-server';
import type { ListenerRole, SessionContext } from '../session/session-context.js';
import { forwardedAddress, forwardedProtocol } from '../session/forwarded-client.js';

/**
 * The session a message came in on, as scanners see it. Engines judge better with it: spamd
 * follows the trust path of a Received line for the client hop, Rspamd takes the client's
 * address, HELO, envelope and user with each request. Read-only: what a scanner makes of it
 * is scan input, never what reaches the upstream.
 */
export interface ScanSession {
  /** The proxy's session id, as in its log lines (`cid`). */
  readonly id: string;
  /** Empty when there is no client: a message read from a file by the scan command. */
  readonly clientAddress: string;
  /** The client's PTR name, when it has one (listen.reverseLookup). */
  readonly clientName?: string;
  /** What the client said in HELO/EHLO, when it said anything. */
  readonly helo?: string;
  /** For a Received line (RFC 3848): SMTP or ESMTP, plus S with TLS and A once authenticated. */
  readonly protocol: string;
  /** The TLS protocol and cipher of the client's connection, when it used TLS. */
  readonly tls?: { readonly protocol: string; readonly cipher: string };
  readonly mailFrom: string;
  readonly rcptTo: readonly string[];
  /** The authenticated user of a submission session. */
  readonly user?: string;
  readonly role: ListenerRole;
  /** Our own name (listen.hostname), the `by` of a Received line. */
  readonly hostname: string;
  /** When the message's data ended. */
  readonly receivedAt: Date;
}

/** What the session knows; the scanning stage adds our host name. */
export type ScanEnvelope = Omit<ScanSession, 'hostname'>;

/** The envelope and client of smtp-server's session at the end of DATA, with the listener's role and the login. */
export function scanEnvelopeOf(session: SMTPServerSession, context: SessionContext): ScanEnvelope {
  const name = session.clientHostname && !session.clientHostname.startsWith('[') ? { clientName: session.clientHostname } : {};
  const helo = session.hostNameAppearsAs ? { helo: session.hostNameAppearsAs } : {};
  // A client named by XFORWARD spoke to its MTA, not to us: its PROTO is the MTA's word, its TLS unknown.
  const forwarded = forwardedAddress(session) !== undefined;
  const tls = session.tlsOptions && !forwarded ? { tls: { protocol: session.tlsOptions.version ?? 'TLS', cipher: session.tlsOptions.name } } : {};
  return {
    id: session.id,
    clientAddress: session.remoteAddress,
    ...name,
    ...helo,
    protocol: (forwarded ? forwardedProtocol(session) : session.transmissionType) || 'SMTP',
    ...tls,
    mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
    rcptTo: session.envelope.rcptTo.map((rcpt) => rcpt.address),
    ...(context.user === undefined ? {} : { user: context.user }),
    role: context.role,
    receivedAt: new Date(),
  };
}
