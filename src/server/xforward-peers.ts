import { z } from 'zod';
import { duration } from '../config/units.js';
import { AddressRanges, addressRange } from '../screen/address-ranges.js';

/**
 * listen.xforward: the proxy as Postfix's before-queue filter (smtpd_proxy_filter). Peers in
 * `trusted` may name the real client with XFORWARD; the proxy then treats that client as the
 * session's client (logs, screening, scanners, what it passes on).
 */
export const xforwardSchema = z.strictObject({
  /** The Postfix hosts whose smtpd connects here (smtp-server offers XFORWARD to them only). */
  trusted: z.array(addressRange).min(1),
  /**
   * Postfix's smtpd_proxy_timeout for this filter, when you state it: checked at start-up and
   * in --check against the longest the proxy may take to answer the end of a message.
   */
  smtpdProxyTimeout: duration.optional(),
});

export type XforwardSettings = z.output<typeof xforwardSchema>;

/**
 * The peers allowed to send XFORWARD. smtp-server takes a list of exact addresses
 * (`useXForward`), checked against the connection's own address at EHLO and XFORWARD; the
 * ranges here are wider, so `addresses` lists the trusted peers connected right now: a peer is
 * added as it connects and removed when its last connection closes.
 */
export class XforwardPeers {
  /** Handed to smtp-server as useXForward and kept up to date in place. */
  readonly addresses: string[] = [];
  private readonly ranges: AddressRanges;
  private readonly connected = new Map<string, number>();

  constructor(settings: XforwardSettings) {
    this.ranges = new AddressRanges(settings.trusted);
  }

  trusts(address: string): boolean {
    return this.ranges.has(address);
  }

  /** A connection from `address` was taken; true when it is a trusted peer. */
  admit(address: string): boolean {
    if (!this.trusts(address)) return false;
    const count = this.connected.get(address) ?? 0;
    if (count === 0) this.addresses.push(address);
    this.connected.set(address, count + 1);
    return true;
  }

  /** A connection that admit() trusted has closed. */
  release(address: string): void {
    const count = this.connected.get(address);
    if (count === undefined) return;
    if (count > 1) {
      this.connected.set(address, count - 1);
      return;
    }
    this.connected.delete(address);
    this.addresses.splice(this.addresses.indexOf(address), 1);
  }
}

interface TimeoutFacts {
  readonly listen: unknown;
  readonly limits: { readonly scanDeadline: number };
  readonly upstream: { readonly connectTimeout: number; readonly commandTimeout: number; readonly dataTimeout: number };
}

const seconds = (ms: number) => `${ms / 1000}s`;

/**
 * Postfix gives up on the filter after smtpd_proxy_timeout without a reply, tells its client
 * 451 and drops the connection to the proxy. At the end of a message the proxy owes its reply
 * after the scans (limits.scanDeadline), the upstream's 354 and the writing of the message
 * (upstream.commandTimeout each) and the upstream's final reply (upstream.dataTimeout); if
 * Postfix stops waiting before that, the upstream may still queue the message while the client
 * was told to retry: a duplicate. At MAIL the proxy first opens its upstream session
 * (upstream.connectTimeout, then a reply within upstream.commandTimeout). So both sums must
 * stay under the stated timeout; zod superRefine, so the key is named in the error.
 */
export function checkSmtpdProxyTimeout(config: TimeoutFacts, ctx: z.RefinementCtx): void {
  const listeners = Array.isArray(config.listen) ? config.listen : [config.listen];
  listeners.forEach((listener: { xforward?: XforwardSettings } | undefined, index) => {
    const stated = listener?.xforward?.smtpdProxyTimeout;
    if (stated === undefined) return;
    const path = [...(Array.isArray(config.listen) ? ['listen', index] : ['listen']), 'xforward', 'smtpdProxyTimeout'];
    const { scanDeadline } = config.limits;
    const { connectTimeout, commandTimeout, dataTimeout } = config.upstream;
    const atDot = scanDeadline + 2 * commandTimeout + dataTimeout;
    if (atDot >= stated) {
      ctx.addIssue({
        code: 'custom',
        path,
        message: `${seconds(stated)} is not more than limits.scanDeadline (${seconds(scanDeadline)}) + 2 x upstream.commandTimeout `
          + `(${seconds(commandTimeout)}) + upstream.dataTimeout (${seconds(dataTimeout)}) = ${seconds(atDot)}: Postfix would stop waiting `
          + 'for the reply to the end of a message and tell its client to retry while the upstream may still queue it (a duplicate). '
          + 'Lower those, or raise smtpd_proxy_timeout in master.cf and here',
      });
    }
    const atMail = connectTimeout + commandTimeout;
    if (atMail >= stated) {
      ctx.addIssue({
        code: 'custom',
        path,
        message: `${seconds(stated)} is not more than upstream.connectTimeout (${seconds(connectTimeout)}) + upstream.commandTimeout `
          + `(${seconds(commandTimeout)}) = ${seconds(atMail)}: Postfix would stop waiting for the reply to MAIL while the proxy opens its upstream session`,
      });
    }
  });
}
