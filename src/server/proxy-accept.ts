import { BlockList, isIPv4, isIPv6, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { SMTPServer } from 'smtp-server';
import { parseProxyHeader, type ProxyHeader } from './proxy-protocol.js';

export interface ProxyProtocolSettings {
  /** Addresses and CIDR ranges of the load balancers allowed to send the header. */
  readonly trusted: readonly string[];
  /** From accept to the header's last byte. */
  readonly timeout: number;
}

/**
 * listen.proxyProtocol: every accepted socket comes here before smtp-server sees it. A peer
 * that is not a trusted balancer, or a header that is missing, malformed or late, closes the
 * connection without a banner (a balancer never shows an SMTP client anything of ours before
 * the header is read, and a client that reached us around the balancer gets nothing). A good
 * header hands the socket to smtp-server's public connect() with the client's addresses, so
 * smtp-server's own limits, the greeting pause and the early-talker check, and everything the
 * proxy derives from session.remoteAddress (per-address limits, logs, XCLIENT) see the client.
 *
 * smtp-server's own PROXY support (useProxy) stays off: it reads v1 only, and before its
 * maxClients check would count the connection.
 */
export class ProxyProtocolGate {
  private readonly trusted = new BlockList();
  private readonly pending = new Set<Socket>();

  constructor(
    private readonly smtp: SMTPServer,
    private readonly settings: ProxyProtocolSettings,
    /** Sockets waiting for their header at once (limits.maxClients: they become clients). */
    private readonly maxPending: number,
    private readonly logger: Logger,
  ) {
    for (const entry of settings.trusted) addTrusted(this.trusted, entry);
    // smtp-server's net.Server stays the one that listens and closes (Listener.listen, drain);
    // only its accept handler is ours.
    const handlers = smtp.server.listeners('connection');
    if (handlers.length !== 1) throw new Error(`smtp-server's listener has ${handlers.length} connection handlers, expected its own only`);
    smtp.server.removeListener('connection', handlers[0] as (socket: Socket) => void);
    smtp.server.on('connection', (socket: Socket) => this.accept(socket));
  }

  /** Closes the connections still waiting for their header (shutdown: none can become a session). */
  close(): void {
    for (const socket of this.pending) socket.destroy();
  }

  private accept(socket: Socket): void {
    const peer = socket.remoteAddress;
    const onError = (error: Error) => this.logger.debug({ err: error, peer }, 'connection error before the PROXY header');
    socket.on('error', onError);
    if (!peer || !this.isTrusted(peer)) {
      this.logger.info({ peer }, 'connection from a peer not in listen.proxyProtocol.trusted closed');
      socket.destroy();
      return;
    }
    if (this.pending.size >= this.maxPending) {
      this.logger.info({ peer, limit: this.maxPending }, 'too many connections waiting for their PROXY header; connection closed');
      socket.destroy();
      return;
    }
    this.pending.add(socket);
    let received: Buffer = Buffer.alloc(0);
    // A deadline, not socket.setTimeout: a peer trickling a byte at a time must not extend it.
    const timer = setTimeout(() => refuse('no PROXY header within listen.proxyProtocol.timeout'), this.settings.timeout);
    timer.unref();
    const finish = () => {
      clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('end', onGone);
      socket.off('close', onGone);
      this.pending.delete(socket);
    };
    const refuse = (reason: string) => {
      finish();
      this.logger.info({ peer, reason }, 'invalid PROXY header; connection closed');
      socket.destroy();
    };
    const onGone = () => {
      finish();
      this.logger.debug({ peer }, 'connection closed before its PROXY header');
      socket.destroy();
    };
    const onReadable = () => {
      for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null; ) {
        received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
        const header = parseProxyHeader(received);
        if (header.kind === 'incomplete') continue;
        if (header.kind === 'invalid') return refuse(header.reason);
        finish();
        socket.off('error', onError);
        // A client may not talk before the banner; one that did is smtp-server's early talker.
        const rest = received.subarray(header.length);
        if (rest.length > 0) socket.unshift(rest);
        return this.handOver(socket, header, peer);
      }
    };
    socket.on('readable', onReadable);
    socket.on('end', onGone);
    socket.on('close', onGone);
  }

  private handOver(socket: Socket, header: Exclude<ProxyHeader, { kind: 'incomplete' | 'invalid' }>, peer: string): void {
    if (header.kind === 'local') {
      this.logger.debug({ peer }, 'PROXY LOCAL: the balancer\'s own connection');
      this.smtp.connect(socket, {});
      return;
    }
    const { source, destination } = header;
    this.logger.debug({ client: source.address, peer }, 'PROXY header read');
    this.smtp.connect(socket, {
      remoteAddress: source.address,
      remotePort: source.port,
      localAddress: destination.address,
      localPort: destination.port,
    });
  }

  private isTrusted(address: string): boolean {
    return this.trusted.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');
  }
}

function addTrusted(list: BlockList, entry: string): void {
  const [address = '', prefix] = entry.split('/');
  const family = isIPv6(address) ? 'ipv6' : 'ipv4';
  if (prefix === undefined) list.addAddress(address, family);
  else list.addSubnet(address, Number(prefix), family);
}
