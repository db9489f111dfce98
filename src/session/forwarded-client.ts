import type { Logger } from 'pino';
import type { SMTPServerSession } from 'smtp-server';
import { ClientScreen, type Screening } from '../screen/screening.js';

/** What a forwarded client changes in its session: whom the log lines and screening are about. */
export interface ClientView {
  readonly logger: Logger;
  readonly screen: ClientScreen;
}

/** The client a trusted peer named with XFORWARD ADDR (smtp-server keeps it in session.xForward). */
export function forwardedAddress(session: { readonly xForward?: ReadonlyMap<string, string | number | false> }): string | undefined {
  const address = session.xForward?.get('ADDR');
  return typeof address === 'string' && address ? address : undefined;
}

/** The protocol (SMTP, ESMTP) the client named by XFORWARD spoke to its peer, when the peer said. */
export function forwardedProtocol(session: { readonly xForward?: ReadonlyMap<string, string | number | false> }): string | undefined {
  const proto = session.xForward?.get('PROTO');
  return typeof proto === 'string' && proto ? proto : undefined;
}

/**
 * A session whose peer (Postfix's smtpd with smtpd_proxy_filter, listen.xforward) names the
 * real client with XFORWARD, which Postfix sends after EHLO and before MAIL. smtp-server then
 * reports that client as the session's (address, name, HELO), so the upstream and the scanners
 * see it; the log context and the screening, made at connect for the peer, are made again here
 * for the client at its MAIL. The peer itself was not screened at connect (src/server/
 * listener.ts): it is an MTA speaking for many clients, whose rate limits would be everyone's.
 */
export class ForwardedClient {
  private address: string | undefined;

  constructor(
    /** The process's logger: the session's own carries the peer as its client. */
    private readonly logger: Logger,
    private readonly screening: Screening | undefined,
  ) {}

  /** The view of the client XFORWARD named, when it names another than the last; else undefined. */
  async take(session: SMTPServerSession): Promise<ClientView | undefined> {
    const address = forwardedAddress(session);
    if (!address || address === this.address) return undefined;
    this.address = address;
    const screen = await this.screen(address);
    const { verdict } = screen.facts;
    const screened = verdict === 'unscreened' || verdict === 'pass' ? {} : { screen: verdict };
    const peer = session.xForward.get('ADDR:DEFAULT');
    const logger = this.logger.child({ cid: session.id, client: address, ...(typeof peer === 'string' ? { peer } : {}), ...screened });
    logger.debug({ name: session.clientHostname, helo: session.hostNameAppearsAs }, 'client named by XFORWARD');
    return { logger, screen };
  }

  private async screen(address: string): Promise<ClientScreen> {
    if (!this.screening) return ClientScreen.unscreened();
    try {
      return await this.screening.connect(address);
    } catch (error) {
      // As at connect (src/server/listener.ts): broken screening lets the client through unscreened.
      this.logger.error({ err: error, client: address }, 'screening failed; client not screened');
      return ClientScreen.unscreened();
    }
  }
}
