import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { fitXclientValues, UNAVAILABLE, type XclientValues } from './xclient-values.js';

/** What the upstream should know about the real client (from smtp-server's session). */
export interface ClientIdentity {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** smtp-server's PTR result, or "[address]" when there is none. */
  readonly clientHostname: string;
  readonly hostNameAppearsAs: string | false;
  readonly openingCommand: string | false;
  /** The login of an authenticated client (smtp-server's session.user), passed as XCLIENT LOGIN. */
  readonly user?: unknown;
}

const NAME_LOOKUP_TIMEOUT = 3000;

/**
 * XCLIENT attributes for Postfix (XCLIENT_README): the real client's address, names, HELO and
 * protocol, so Postfix applies its access rules to the client and not to the proxy. NAME is
 * the forward-confirmed name, as Postfix's own smtpd computes it; REVERSE_NAME the bare PTR.
 *
 * Every attribute has a value, [UNAVAILABLE] where the client gave none: an attribute left out
 * would keep the value an earlier XCLIENT set on the same upstream session. Values are made to
 * fit what Postfix accepts (see fitXclientValues); `adjusted` says what was changed.
 */
export async function xclientAttributes(client: ClientIdentity): Promise<XclientValues> {
  const ptr = client.clientHostname.startsWith('[') ? undefined : client.clientHostname;
  return fitXclientValues({
    HELO: client.hostNameAppearsAs || UNAVAILABLE,
    PROTO: client.openingCommand === 'EHLO' ? 'ESMTP' : 'SMTP',
    PORT: String(client.remotePort),
    REVERSE_NAME: ptr ?? UNAVAILABLE,
    DESTADDR: addressValue(client.localAddress),
    DESTPORT: String(client.localPort),
    LOGIN: typeof client.user === 'string' ? client.user : UNAVAILABLE,
    NAME: ptr ? await confirmedName(ptr, client.remoteAddress) : UNAVAILABLE,
    ADDR: addressValue(client.remoteAddress),
  });
}

/** Postfix's form of an address: IPv6 ones carry the IPV6: prefix. */
function addressValue(address: string): string {
  return net.isIPv6(address) ? `IPV6:${address}` : address;
}

/** The PTR name when it resolves back to the client's address; Postfix's "unknown" otherwise. */
export async function confirmedName(ptr: string, address: string): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), NAME_LOOKUP_TIMEOUT);
  });
  try {
    const result = await Promise.race([lookup(ptr, { all: true }), timeout]);
    if (result === 'timeout') return '[TEMPUNAVAIL]';
    return result.some((entry) => entry.address === address) ? ptr : UNAVAILABLE;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EAI_AGAIN' ? '[TEMPUNAVAIL]' : UNAVAILABLE;
  } finally {
    clearTimeout(timer);
  }
}
