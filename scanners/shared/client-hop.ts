import { PassThrough, type Readable } from 'node:stream';
import { receivedHeader } from '../../src/message/trace-header.js';
import type { ScanSession } from '../../src/scan/scan-session.js';

/**
 * The Received line an MTA would have written for the client's hop, for engines that read the
 * trust path from the message (spamd: without it NO_RELAYS and NO_RECEIVED fire and its
 * relay rules see no client at all). Scan input only: what reaches the upstream is unchanged.
 */
export function clientHopLine(session: ScanSession): Buffer {
  // A message from a file (the scan command) came from no client: it has whatever Received lines it has.
  if (session.clientAddress === '') return Buffer.alloc(0);
  const facts = {
    helo: session.helo ?? (false as const),
    name: session.clientName,
    address: session.clientAddress,
    ehlo: session.protocol.startsWith('E'),
    tls: session.tls && { version: session.tls.protocol, cipher: session.tls.cipher },
    authenticated: session.user !== undefined,
    id: session.id,
    recipients: session.rcptTo,
  };
  const [name, value] = receivedHeader(facts, session.hostname, session.receivedAt);
  return Buffer.from(`${name}: ${value}\r\n`, 'latin1');
}

/**
 * `prefix`, then everything `body` gives. Destroying the result destroys `body` too, so an
 * aborted scan lets go of the spool's reader even while it waits for bytes.
 */
export function withPrefix(prefix: Buffer, body: Readable): Readable {
  const out = new PassThrough();
  out.write(prefix);
  body.on('error', (error) => out.destroy(error));
  out.on('close', () => body.destroy());
  body.pipe(out);
  return out;
}
