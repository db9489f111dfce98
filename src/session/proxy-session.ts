import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import { signedOutgoing, type MessageSigner, type SigningContext } from '../dkim/signer.js';
import { MessageRejectedError, UpstreamError, UpstreamMissingExtensionError, replyFor } from '../errors.js';
import { messageHeaderEdits, type MessageHeaderSettings } from '../message/message-headers.js';
import { outgoingMessage } from '../message/outgoing.js';
import type { Decision } from '../policy/decision.js';
import { scanEnvelopeOf } from '../scan/scan-session.js';
import type { ScanStage } from '../scan/stage.js';
import { replies } from '../smtp/replies.js';
import { queueIdOf } from '../smtp/queue-id.js';
import { isPositive, type SmtpReply } from '../smtp/reply.js';
import type { OutboundPolicy } from '../outbound/outbound-policy.js';
import type { MemoryBudget } from '../spool/memory-budget.js';
import { receiveMessage } from '../spool/receive.js';
import { Spool } from '../spool/spool.js';
import { mailCommand, rcptCommand } from './envelope-commands.js';
import type { ClientScreen } from '../screen/screening.js';
import { events } from '../observe/events.js';
import { publishMessage, refusalOutcome, upstreamOutcome } from '../observe/message-outcome.js';
import { UpstreamKeepAlive, type KeepAliveSettings } from './upstream-keepalive.js';
import type { UpstreamLink } from './upstream-link.js';
import type { ForwardedClient } from './forwarded-client.js';
import type { Credentials, ListenerAuth, LoginOutcome } from '../auth/listener-auth.js';
import type { SessionContext } from './session-context.js';

export interface SessionSettings {
  readonly spool: { readonly dir: string; readonly memoryPerMessage: number };
  readonly bareLineFeed: 'normalize' | 'reject';
  readonly upstreamKeepAlive: KeepAliveSettings;
  readonly headers: MessageHeaderSettings;
}

export interface SessionDeps {
  readonly settings: SessionSettings;
  readonly link: UpstreamLink;
  readonly scanStage: ScanStage;
  readonly budget: MemoryBudget;
  /** DKIM signing between policy and upstream DATA (src/dkim/); absent without a dkim config. */
  readonly signer?: MessageSigner | undefined;
  readonly logger: Logger;
  /** What screening decided about this client at connect; asked again at MAIL and RCPT. */
  readonly screen: ClientScreen;
  /** The listener's role and the authenticated user (src/session/session-context.ts). */
  readonly context: SessionContext;
  /** A submission listener's senders per login and account limits (src/outbound/); absent on inbound ones. */
  readonly outbound?: OutboundPolicy;
  /** A client named by a trusted peer's XFORWARD (listen.xforward) replaces the peer's logger and screen. */
  readonly forwarded?: ForwardedClient;
  /** A submission listener's logins (src/auth/listener-auth.ts). */
  readonly auth?: ListenerAuth;
}

/**
 * One client connection relayed in lockstep to its upstream session: each MAIL and RCPT gets
 * the upstream's own reply; DATA is received whole, scanned, and relayed only if the scan
 * passes, and the client hears the upstream's final reply. Every failure is a reply value
 * (4xx for faults), never an exception towards smtp-server.
 */
export class ProxySession {
  private readonly abort = new AbortController();
  private handlerRunning = false;

  constructor(private deps: SessionDeps) {}

  /** A command is being relayed or a message received, scanned or sent. */
  get busy(): boolean {
    return this.handlerRunning;
  }

  mail(from: SMTPServerAddress, session: SMTPServerSession): Promise<SmtpReply> {
    return this.guard('MAIL', async () => {
      const named = await this.deps.forwarded?.take(session);
      if (named) this.deps = { ...this.deps, ...named };
      const { screen } = this.deps;
      if (screen.refusesRecipients) return replies.senderOkLocally;
      const tooMuch = await screen.mail();
      if (tooMuch) return this.screened('MAIL', tooMuch);
      const notYours = await this.deps.outbound?.mail(this.deps.context.user ?? '', from.address, this.deps.logger);
      if (notYours) return notYours;
      const client = await this.deps.link.begin(session, this.abort.signal);
      const reply = await client.command(mailCommand(from, session.envelope, client.capabilities));
      this.deps.link.noteReply(reply);
      this.deps.link.setInTransaction(isPositive(reply));
      return reply;
    });
  }

  rcpt(to: SMTPServerAddress, session: SMTPServerSession): Promise<SmtpReply> {
    return this.guard('RCPT', async () => {
      const refusal = await this.deps.screen.rcpt(session.envelope.mailFrom ? session.envelope.mailFrom.address : '');
      if (refusal) return this.screened('RCPT', refusal, to.address);
      const overLimit = await this.deps.outbound?.rcpt(this.deps.context.user ?? '', to.address, this.deps.logger);
      if (overLimit) return overLimit;
      const client = this.deps.link.current();
      const reply = await client.command(rcptCommand(to, client.capabilities));
      this.deps.link.noteReply(reply);
      return reply;
    });
  }

  /** AUTH on a submission listener: the reply, and the user when the login succeeded. */
  async auth(credentials: Credentials, session: SMTPServerSession): Promise<LoginOutcome> {
    let user: string | undefined;
    const reply = await this.guard('AUTH', async () => {
      const context = { identity: session, link: this.deps.link, signal: this.abort.signal, logger: this.deps.logger };
      const outcome = await this.deps.auth!.login(credentials, context);
      user = outcome.user;
      return outcome.reply;
    });
    return user ? { reply, user } : { reply };
  }

  data(stream: Readable, session: SMTPServerSession): Promise<SmtpReply> {
    return this.guard('DATA', async () => {
      const { settings, budget, logger } = this.deps;
      const spool = new Spool({ ...settings.spool, budget });
      const started = performance.now();
      // While the message arrives and is scanned, the upstream transaction sits idle and would time out.
      const keepAlive = new UpstreamKeepAlive(() => this.deps.link.current(), settings.upstreamKeepAlive);
      try {
        const decision = await this.receiveAndScan(stream, session, spool).finally(() => keepAlive.stop());
        if (decision.action === 'reject') publishMessage(refusalOutcome(decision.reply, decision.reason), spool.size);
        const facts = () => messageFacts(session, this.deps.context.user, spool.size, decision, started);
        if (decision.action === 'reject') return await this.refuse(decision.reply, { ...facts(), reason: decision.reason });
        keepAlive.throwIfFailed();
        const hop = { session, carriesClient: this.deps.link.carriesClient, user: this.deps.context.user };
        const edits = await messageHeaderEdits(decision, settings.headers, hop);
        const removed = new Set<string>();
        const { message, size, dkim } = await signedOutgoing(this.deps.signer, () => outgoingMessage(spool, edits, removed), this.signingContext(session));
        const client = this.deps.link.current();
        this.abort.signal.throwIfAborted();
        const reply = await client.sendMessage(message, size);
        publishMessage(upstreamOutcome(reply), spool.size);
        this.deps.link.noteReply(reply);
        // A positive reply ends the upstream transaction; after a negative one it may still be
        // open (DATA itself refused), so the next MAIL resets it first.
        this.deps.link.setInTransaction(!isPositive(reply));
        if (decision.observed) events.observed.publish({ outcome: refusalOutcome(decision.observed.reply, decision.observed.reason) });
        const observed = decision.observed ? { wouldReject: { ...decision.observed } } : {};
        // The sender's forged verdicts and Exchange headers: who tries what, for the admin.
        const removedHeaders = removed.size > 0 ? { removedHeaders: [...removed] } : {};
        logger.info({ ...facts(), reply, queueId: queueIdOf(reply), ...observed, ...removedHeaders, dkim }, 'message relayed');
        return reply;
      } catch (error) {
        publishMessage('failed', spool.size);
        if (!(error instanceof UpstreamError)) await this.deps.link.reset();
        throw error;
      } finally {
        await spool.dispose();
      }
    });
  }

  /** The client went away: abort scans and the upstream transaction. Never throws. */
  async close(): Promise<void> {
    // Mid-DATA, QUIT would wait behind the message and complete it: drop the connection
    // instead, so the upstream discards what it got. Only then is anything listening to the
    // abort signal (scans, the upstream connect).
    if (this.handlerRunning) {
      this.abort.abort();
      this.deps.link.drop();
    } else {
      await this.deps.link.close();
    }
  }

  private signingContext(session: SMTPServerSession): SigningContext {
    return {
      clientAddress: session.remoteAddress,
      user: this.deps.context.user,
      mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
      eightBitMime: this.deps.link.current().capabilities.eightBitMime,
    };
  }

  /** The message received whole and scanned; our own refusals (size, bare LF) are rejects too. */
  private async receiveAndScan(stream: Readable, session: SMTPServerSession, spool: Spool): Promise<Decision> {
    const { bareLineFeed } = this.deps.settings;
    const received = await receiveMessage(stream, spool, { rejectBareLineBreaks: bareLineFeed === 'reject' });
    if (received.error) throw received.error;
    if (received.sizeExceeded) return { action: 'reject', reply: replies.messageTooBig, reason: 'message too big' };
    if (received.bareLineBreaks > 0 && bareLineFeed === 'reject') return { action: 'reject', reply: replies.bareLineFeed, reason: 'bare CR or LF' };
    return this.deps.scanStage.run(spool, scanEnvelopeOf(session, this.deps.context), this.abort.signal);
  }

  private async refuse(reply: SmtpReply, facts: Record<string, unknown>): Promise<SmtpReply> {
    this.deps.logger.info({ ...facts, reply }, 'message refused');
    await this.deps.link.reset();
    return reply;
  }

  /** A refusal by screening: logged with what the client tried, so an admin sees who was refused and why. */
  private screened(command: string, reply: SmtpReply, recipient?: string): SmtpReply {
    this.deps.logger.info({ command, ...(recipient ? { recipient } : {}), screen: this.deps.screen.facts, reply }, 'refused by screening');
    return reply;
  }

  private async guard(command: string, work: () => Promise<SmtpReply>): Promise<SmtpReply> {
    this.handlerRunning = true;
    try {
      const reply = await this.run(command, work);
      await this.deps.screen.beforeReply(reply.code);
      return reply;
    } finally {
      this.handlerRunning = false;
    }
  }

  private async run(command: string, work: () => Promise<SmtpReply>): Promise<SmtpReply> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof UpstreamMissingExtensionError || error instanceof MessageRejectedError) {
        this.deps.logger.info({ err: error, command }, 'refused');
      } else if (error instanceof UpstreamError) {
        this.deps.logger.warn({ err: error, command }, 'upstream failure');
        this.deps.link.drop();
      } else if (!this.abort.signal.aborted) {
        this.deps.logger.error({ err: error, command }, 'internal error');
      }
      return replyFor(error);
    }
  }
}

/**
 * What the one line a message ends with says about it, besides the reply: with the session id
 * and client address the logger carries and the upstream's queue id, it joins with the MTA's log;
 * the login of a submission session says whose mail it was.
 */
function messageFacts(session: SMTPServerSession, user: string | undefined, size: number, decision: Decision, started: number): Record<string, unknown> {
  return {
    ...(user === undefined ? {} : { user }),
    from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
    rcpts: session.envelope.rcptTo.length,
    size,
    ms: Math.round(performance.now() - started),
    ...(decision.results ? { scans: decision.results.map(({ name, verdict, ms }) => ({ name, verdict, ms })) } : {}),
  };
}
