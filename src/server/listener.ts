import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import {
  SMTPServer,
  type SMTPServerAuthentication,
  type SMTPServerAuthenticationResponse,
  type SMTPServerOptions,
  type SMTPServerSession,
} from 'smtp-server';
import type { Config, ListenConfig } from '../config/load.js';
import { events } from '../observe/events.js';
import { ClientScreen, type Screening } from '../screen/screening.js';
import type { ProxySession } from '../session/proxy-session.js';
import { replies } from '../smtp/replies.js';
import { isPositive, type SmtpReply } from '../smtp/reply.js';
import type { Capabilities } from '../upstream/capabilities.js';
import { extensionOptions } from './advertised-extensions.js';
import { securityOptions } from './listener-settings.js';
import { releaseGuards } from './connection-guards.js';
import { ConnectionCounter } from './connection-counter.js';
import { registerServer, setSuccessReply } from './connection-patches.js';
import { ProxyProtocolGate } from './proxy-accept.js';
import { replyError, replyText } from './reply-error.js';
import { XforwardPeers } from './xforward-peers.js';

export type SessionFactory = (session: SMTPServerSession, logger: Logger, screen: ClientScreen) => ProxySession;

type Callback = (error?: Error | null, message?: string) => void;
type AuthCallback = (error: Error | null | undefined, response?: SMTPServerAuthenticationResponse) => void;

/**
 * The only place that knows smtp-server. It turns smtp-server's callbacks into calls on a
 * ProxySession and its replies back into callbacks, and guards every handler: nothing thrown
 * in a handler can reach smtp-server (where a rejected promise would end the process).
 */
export class Listener {
  readonly server: SMTPServer;
  private readonly sessions = new WeakMap<SMTPServerSession, ProxySession>();
  private readonly perAddress = new ConnectionCounter();
  /** Screening started as each connection was taken, awaited before its banner. */
  private readonly screens = new WeakMap<SMTPServerSession, Promise<ClientScreen>>();
  /** listen.proxyProtocol: reads each connection's PROXY header before smtp-server sees it. */
  private readonly proxyGate: ProxyProtocolGate | undefined;
  /** listen.xforward: the Postfix hosts that may name the real client (src/server/xforward-peers.ts). */
  private readonly xforwardPeers: XforwardPeers | undefined;
  private readonly peerAddresses = new WeakMap<SMTPServerSession, string>();
  private draining = false;
  /** What the upstream offers, learnt from its last EHLO: the base of what we offer. */
  private capabilities: Capabilities | undefined;

  constructor(
    private config: Config,
    private readonly newSession: SessionFactory,
    private readonly logger: Logger,
    screening?: Screening,
    /** This listener's entry of `listen` (restart-only, like all of them). */
    private readonly settings: ListenConfig = config.listen,
  ) {
    this.xforwardPeers = settings.xforward && new XforwardPeers(settings.xforward);
    this.server = new SMTPServer(this.serverOptions());
    this.server.on('error', (error) => this.logger.debug({ err: error }, 'client connection error'));
    this.registerSettings(screening);
    const { proxyProtocol } = settings;
    this.proxyGate = proxyProtocol && new ProxyProtocolGate(this.server, proxyProtocol, config.limits.maxClients, logger);
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.server.server.once('error', onError);
      this.server.listen(this.settings.port, this.settings.host, () => {
        this.server.server.off('error', onError);
        resolve(this.server.server.address() as AddressInfo);
      });
    });
  }

  /** The upstream's EHLO changed what we may offer (learnt from each upstream session). */
  updateUpstreamCapabilities(capabilities: Capabilities): void {
    this.capabilities = capabilities;
    Object.assign(this.server.options, extensionOptions(this.config.limits.maxMessageSize, capabilities));
  }

  /**
   * A reload (src/reload.ts): new connections get these limits and this screening; smtp-server
   * reads its options as it needs them. Open connections keep their screening, and their
   * guards (greetDelay, idleTimeout, dataTimeout, maxErrors) follow the new values.
   */
  reconfigure(config: Config, screening?: Screening): void {
    this.config = config;
    const { limits, shutdown } = config;
    Object.assign(this.server.options, extensionOptions(limits.maxMessageSize, this.capabilities), {
      maxClients: limits.maxClients,
      maxRecipients: limits.maxRecipients,
      maxCommandLength: limits.maxLineLength,
      socketTimeout: limits.idleTimeout,
      closeTimeout: shutdown.timeout,
    });
    this.registerSettings(screening);
  }

  private registerSettings(screening: Screening | undefined): void {
    const { greetDelay, idleTimeout, dataTimeout, maxErrors } = this.config.limits;
    const onAccept = screening ? (session: SMTPServerSession, address: string) => this.startScreening(session, address, screening) : undefined;
    const authOnlyOverTls = this.settings.role === 'submission';
    registerServer(this.server, { greetDelay, idleTimeout, dataTimeout, maxErrors, authOnlyOverTls, ...(onAccept ? { onAccept } : {}) });
  }

  /**
   * Stops taking mail: new clients and idle ones get 421, transactions under way may finish
   * until `timeout`, then everything left is closed.
   */
  async drain(timeout: number): Promise<void> {
    this.draining = true;
    const deadline = Date.now() + timeout;
    while (this.closeIdleConnections() > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.proxyGate?.close();
      for (const connection of this.server.connections) connection.close();
    });
  }

  /** Sends 421 to every connection not in a transaction; returns how many are still busy. */
  private closeIdleConnections(): number {
    let busy = 0;
    for (const connection of this.server.connections) {
      const session = this.sessions.get(connection.session);
      if (session?.busy || connection.session.envelope?.mailFrom) busy++;
      else connection.send(replies.shuttingDown.code, replyText(replies.shuttingDown));
    }
    return busy;
  }

  private serverOptions(): SMTPServerOptions {
    const { limits, tls, shutdown } = this.config;
    const listen = this.settings;
    return {
      name: listen.hostname,
      ...extensionOptions(limits.maxMessageSize, undefined),
      rejectOversized: true,
      hideENHANCEDSTATUSCODES: false,
      hideREQUIRETLS: true,
      ...securityOptions(listen, tls),
      maxClients: limits.maxClients,
      maxRecipients: limits.maxRecipients,
      maxCommandLength: limits.maxLineLength,
      socketTimeout: limits.idleTimeout,
      closeTimeout: shutdown.timeout,
      disableReverseLookup: !listen.reverseLookup,
      ...(this.xforwardPeers ? { useXForward: this.xforwardPeers.addresses } : {}),
      logger: false,
      onConnect: (session, callback) => this.onConnect(session, callback),
      onAuth: (auth, session, callback) => this.authenticate(auth, session, callback),
      onMailFrom: (address, session, callback) => this.relay(session, callback, (proxy) => proxy.mail(address, session)),
      onRcptTo: (address, session, callback) => this.relay(session, callback, (proxy) => proxy.rcpt(address, session)),
      onData: (stream, session, callback) => this.onData(stream, session, callback),
      onClose: (session) => this.onClose(session),
    };
  }

  private startScreening(session: SMTPServerSession, address: string, screening: Screening): void {
    // A trusted peer is an MTA speaking for many clients: the one it names is screened at MAIL.
    if (this.xforwardPeers?.trusts(address)) return;
    const screen = screening.connect(address).catch((error: unknown) => {
      // Screening is a filter in front of the real checks (the upstream's and the scanners'):
      // when it breaks, the client is let through unscreened rather than all mail refused.
      this.logger.error({ err: error, cid: session.id, client: address }, 'screening failed; client not screened');
      return ClientScreen.unscreened();
    });
    this.screens.set(session, screen);
  }

  private onConnect(session: SMTPServerSession, callback: Callback): void {
    if (this.draining) {
      events.connection.publish({ event: 'refused', reason: 'draining' });
      return callback(replyError(replies.shuttingDown));
    }
    // A trusted XFORWARD peer's connections are many clients', and its sessions change address.
    if (this.xforwardPeers?.admit(session.remoteAddress)) {
      this.peerAddresses.set(session, session.remoteAddress);
    } else {
      const limit = this.config.limits.maxClientsPerIp;
      if (limit > 0 && this.perAddress.count(session.remoteAddress) >= limit) {
        events.connection.publish({ event: 'refused', reason: 'per-address-limit' });
        this.logger.info({ client: session.remoteAddress, limit }, 'too many connections from one address');
        return callback(replyError(replies.tooManyFromAddress));
      }
      this.perAddress.add(session);
    }
    const screen = this.screens.get(session) ?? Promise.resolve(ClientScreen.unscreened());
    this.screens.delete(session);
    void this.admit(session, screen, callback);
  }

  /** The banner, or the screening's refusal (then smtp-server closes the connection). Never throws. */
  private async admit(session: SMTPServerSession, pending: Promise<ClientScreen>, callback: Callback): Promise<void> {
    try {
      const screen = await pending;
      const { verdict } = screen.facts;
      const screened = verdict === 'unscreened' || verdict === 'pass' ? {} : { screen: verdict };
      const logger = this.logger.child({ cid: session.id, client: session.remoteAddress, ...screened });
      if (screen.atConnect) {
        logger.info({ screen: screen.facts, reply: screen.atConnect }, 'connection refused by screening');
        events.connection.publish({ event: 'refused', reason: 'screening' });
        return callback(replyError(screen.atConnect));
      }
      await screen.beforeReply(220);
      this.sessions.set(session, this.newSession(session, logger, screen));
      callback();
    } catch (error) {
      this.logger.error({ err: error }, 'cannot set up a session');
      events.connection.publish({ event: 'refused', reason: 'error' });
      callback(replyError(replies.internalError));
    }
  }

  /** AUTH on a submission listener: the session checks the login (src/auth/); smtp-server says 235 on success. */
  private authenticate(auth: SMTPServerAuthentication, session: SMTPServerSession, callback: AuthCallback): void {
    const proxy = this.sessions.get(session);
    if (!proxy) return callback(replyError(replies.internalError));
    proxy
      .auth({ method: auth.method, username: auth.username ?? '', password: auth.password ?? '' }, session)
      .then(({ reply, user }) => (user ? callback(null, { user }) : callback(replyError(reply))))
      .catch((error: unknown) => {
        this.logger.error({ err: error, cid: session.id }, 'unexpected AUTH failure');
        callback(replyError(replies.internalError));
      });
  }

  private onData(stream: Readable, session: SMTPServerSession, callback: Callback): void {
    this.relay(session, callback, (proxy) => proxy.data(stream, session), () => stream.resume());
  }

  private onClose(session: SMTPServerSession): void {
    releaseGuards(session);
    this.perAddress.remove(session);
    const peer = this.peerAddresses.get(session);
    if (peer) this.xforwardPeers?.release(peer);
    const proxy = this.sessions.get(session);
    this.sessions.delete(session);
    proxy?.close().catch((error: unknown) => this.logger.error({ err: error }, 'session close failed'));
  }

  /**
   * Runs one handler and answers smtp-server: a positive reply through the connection patch
   * (smtp-server would say its own "250 Accepted"), a negative one as a handler error.
   */
  private relay(
    session: SMTPServerSession,
    callback: Callback,
    work: (proxy: ProxySession) => Promise<SmtpReply>,
    onFailure?: () => void,
  ): void {
    const proxy = this.sessions.get(session);
    const settle = (reply: SmtpReply) => {
      if (!isPositive(reply)) return callback(replyError(reply));
      setSuccessReply(session, reply);
      callback();
    };
    if (!proxy) {
      onFailure?.();
      return settle(replies.internalError);
    }
    work(proxy)
      .catch((error: unknown) => {
        this.logger.error({ err: error, cid: session.id }, 'unexpected handler failure');
        onFailure?.();
        return replies.internalError;
      })
      .then(settle)
      .catch((error: unknown) => this.logger.error({ err: error, cid: session.id }, 'reply failed'));
  }
}
