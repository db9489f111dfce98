import { lookup } from 'node:dns/promises';
import net from 'node:net';

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
}

const NAME_LOOKUP_TIMEOUT = 3000;

/**
 * XCLIENT attributes for Postfix (XCLIENT_README): the real client's address, names, HELO and
 * protocol, so Postfix applies its access rules to the client and not to the proxy. NAME is
 * the forward-confirmed name, as Postfix's own smtpd computes it; REVERSE_NAME the bare PTR.
 */
export async function xclientAttributes(client: ClientIdentity): Promise<Record<string, string | undefined>> {
  const ptr = client.clientHostname.startsWith('[') ? undefined : client.clientHostname;
  return {
    ADDR: net.isIPv6(client.remoteAddress) ? `IPV6:${client.remoteAddress}` : client.remoteAddress,
    PORT: String(client.remotePort),
    NAME: ptr ? await confirmedName(ptr, client.remoteAddress) : '[UNAVAILABLE]',
    REVERSE_NAME: ptr ?? '[UNAVAILABLE]',
    HELO: client.hostNameAppearsAs || undefined,
    PROTO: client.openingCommand === 'EHLO' ? 'ESMTP' : 'SMTP',
    DESTADDR: net.isIPv6(client.localAddress) ? `IPV6:${client.localAddress}` : client.localAddress,
    DESTPORT: String(client.localPort),
  };
}

/** The PTR name when it resolves back to the client's address; Postfix's "unknown" otherwise. */
async function confirmedName(ptr: string, address: string): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), NAME_LOOKUP_TIMEOUT);
  });
  try {
    const result = await Promise.race([lookup(ptr, { all: true }), timeout]);
    if (result === 'timeout') return '[TEMPUNAVAIL]';
    return result.some((entry) => entry.address === address) ? ptr : '[UNAVAILABLE]';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EAI_AGAIN' ? '[TEMPUNAVAIL]' : '[UNAVAILABLE]';
  } finally {
    clearTimeout(timer);
  }
}
