import net from 'node:net';
import type { Logger } from 'pino';
import { isPositive, type SmtpReply } from '../smtp/reply.js';
import type { UpstreamClient } from '../upstream/client.js';
import { xforwardCommands } from '../upstream/xforward.js';
import { xclientAttributes, type ClientIdentity } from './client-identity.js';
import { forwardedAddress } from './forwarded-client.js';
import type { UpstreamNotices } from './upstream-notices.js';
import { fitXclientValues, UNAVAILABLE, withoutIpv6 } from './xclient-values.js';

/** A client as smtp-server reports it, with what a trusted peer's XFORWARD said (listen.xforward). */
export interface ForwardableIdentity extends ClientIdentity {
  readonly xForward?: ReadonlyMap<string, string | number | false>;
}

const REFUSED_REPEAT = 60_000;

/**
 * Every XFORWARD attribute Postfix knows, [UNAVAILABLE] where unknown: a pooled upstream
 * session may have carried another client, and an attribute left out would keep its value.
 * A client a peer named with XFORWARD is passed on as the peer named it (its NAME was that
 * MTA's forward-confirmed name); one of our own is described as XCLIENT would describe it.
 */
export async function xforwardAttributes(identity: ForwardableIdentity): Promise<ReturnType<typeof fitXclientValues>> {
  const address = identity.remoteAddress;
  const ADDR = net.isIPv6(address) ? `IPV6:${address}` : address;
  const forwarded = identity.xForward;
  if (forwarded && forwardedAddress(identity)) {
    const value = (name: string) => {
      const given = forwarded.get(name);
      return given === undefined || given === false || given === '' || given === 0 ? UNAVAILABLE : String(given);
    };
    return fitXclientValues({
      NAME: value('NAME'), ADDR, PORT: value('PORT'), PROTO: value('PROTO'), HELO: value('HELO'), IDENT: value('IDENT'), SOURCE: value('SOURCE'),
    });
  }
  const { attributes, adjusted } = await xclientAttributes(identity);
  const { NAME = UNAVAILABLE, PORT = UNAVAILABLE, PROTO = UNAVAILABLE, HELO = UNAVAILABLE } = attributes;
  return { attributes: { NAME, ADDR, PORT, PROTO, HELO, IDENT: UNAVAILABLE, SOURCE: 'REMOTE' }, adjusted };
}

/**
 * Passes the client to the upstream with XFORWARD, before each MAIL (upstream.xclient: false
 * and an upstream that offers XFORWARD to the proxy: Postfix's smtpd_authorized_xforward_hosts).
 * Resolves with whether the upstream took it. A refusal is logged (once a minute) and the mail
 * goes on: XFORWARD gives the client no rights, it only names it in the upstream's log (its
 * Received header names the proxy either way), so without it the log names the proxy instead.
 */
export async function forwardClient(client: UpstreamClient, identity: ForwardableIdentity, logger: Logger, notices: UpstreamNotices): Promise<boolean> {
  const offered = client.capabilities.params('XFORWARD');
  if (!offered?.some((name) => name.toUpperCase() === 'ADDR')) return false;
  const { attributes, adjusted } = await xforwardAttributes(identity);
  if (adjusted.length > 0) logger.info({ adjusted }, `XFORWARD values changed to fit what the upstream accepts: ${adjusted.join('; ')}`);
  let reply = await send(client, attributes, offered);
  const fallback = isPositive(reply) ? undefined : withoutIpv6(attributes);
  // 501: a value's syntax (an IPv6 ADDR to an IPv4-only Postfix); the client is then unknown to it.
  if (fallback && reply.code === 501) reply = await send(client, fallback, offered);
  if (isPositive(reply)) return true;
  if (notices.due('xforward refused', REFUSED_REPEAT)) {
    logger.warn({ upstreamReply: reply }, `upstream ${client.server} refused XFORWARD: its log and Received header name the proxy instead of the client`);
  }
  return false;
}

async function send(client: UpstreamClient, attributes: Readonly<Record<string, string>>, offered: readonly string[]): Promise<SmtpReply> {
  let reply: SmtpReply | undefined;
  for (const line of xforwardCommands(attributes, offered)) {
    reply = await client.command(line);
    if (!isPositive(reply)) return reply;
  }
  return reply!;
}
