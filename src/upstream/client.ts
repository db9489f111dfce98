import net from 'node:net';
import type { Readable } from 'node:stream';
import { InternalError, UpstreamClosedError, UpstreamMissingExtensionError, UpstreamRefusedError } from '../errors.js';
import { events, replyClass } from '../observe/events.js';
import { formatReply, type SmtpReply } from '../smtp/reply.js';
import { writeChunk } from './bdat-writer.js';
import { Capabilities } from './capabilities.js';
import { writeMessage } from './data-writer.js';
import type { UpstreamOptions } from './options.js';
import { toSmtpReply, type RawReply } from './reply-parser.js';
import { serverLabel } from './servers-config.js';
import { Transport } from './transport.js';
import { xclientCommands } from './xclient.js';

export type { UpstreamOptions, UpstreamTlsOptions } from './options.js';

/** How long quit() waits for the 221 at most. */
const QUIT_WAIT_MS = 2000;

/** Every session ends with QUIT; one shared reason spares an Error (and its stack) per session. */
const AFTER_QUIT = new UpstreamClosedError('upstream connection closed after QUIT');

// These change what this class keeps track of (greeting, capabilities, TLS, the DATA phase),
// so only its own methods may send them.
const OWN_VERBS = new Set(['EHLO', 'HELO', 'STARTTLS', 'XCLIENT', 'DATA', 'BDAT', 'QUIT']);

const isSuccess = (reply: RawReply) => reply.code >= 200 && reply.code < 300;

/** A CR or LF would end our line early and let the rest pass for a command of its own. */
function assertOneLine(text: string): void {
  if (/[\r\n]/.test(text)) throw new InternalError(`refusing to send a command line containing CR or LF: ${JSON.stringify(text.slice(0, 80))}`);
}

/**
 * An SMTP client for the upstream MTA, strictly in lockstep: one command, one reply, never a
 * second command before the first is answered (no PIPELINING). Calls made while another is
 * running are queued and run in call order, so a caller cannot get the dialogue out of step.
 *
 * Once `closed` (timeout, protocol error, reset, unexpected reply, abort, quit, destroy) the
 * client stays closed and every call rejects with UpstreamClosedError; `closedPromise`
 * resolves when the socket is gone. A closed client is replaced, never repaired.
 */
export class UpstreamClient {
  readonly banner: SmtpReply;
  readonly #options: UpstreamOptions;
  readonly #transport: Transport;
  #capabilities = Capabilities.none();
  #secure = false;
  #tail: Promise<unknown> = Promise.resolve();

  private constructor(transport: Transport, options: UpstreamOptions, banner: SmtpReply) {
    this.#transport = transport;
    this.#options = options;
    this.banner = banner;
  }

  /**
   * Connects, reads the banner, greets (EHLO, or HELO if EHLO gets a 5xx) and, unless TLS is
   * off, upgrades with STARTTLS and greets again. Rejects with UpstreamUnavailableError (no
   * connection or no TLS handshake), UpstreamRefusedError (banner not 220, greeting refused,
   * STARTTLS refused when required), UpstreamMissingExtensionError (STARTTLS required but not
   * offered), UpstreamTimeoutError or UpstreamProtocolError.
   */
  static async connect(options: UpstreamOptions): Promise<UpstreamClient> {
    const transport = await Transport.connect(options.host, options.port, options.connectTimeout, options.signal);
    try {
      const banner = toSmtpReply(await transport.read(options.commandTimeout));
      const client = new UpstreamClient(transport, options, banner);
      await client.#open();
      events.upstreamSession.publish({ event: 'opened' });
      void client.closedPromise.then(() => events.upstreamSession.publish({ event: 'closed' }));
      return client;
    } catch (error) {
      transport.destroy(new UpstreamClosedError('upstream session setup failed', { cause: error }));
      throw error;
    }
  }

  /** What the upstream offered in its latest EHLO reply (none after HELO). */
  get capabilities(): Capabilities {
    return this.#capabilities;
  }

  /** Whether STARTTLS succeeded. */
  get secure(): boolean {
    return this.#secure;
  }

  /** The upstream this session is with, as `host:port`. */
  get server(): string {
    return serverLabel(this.#options);
  }

  /** The address the upstream sees this session come from (what its XCLIENT access list must name). */
  get localAddress(): string | undefined {
    return this.#transport.localAddress;
  }

  get closed(): boolean {
    return this.#transport.closed;
  }

  /** Resolves once the connection is closed, for whatever reason. Never rejects. */
  get closedPromise(): Promise<void> {
    return this.#transport.closedPromise;
  }

  /**
   * Sends one command line and resolves with its reply, whatever its code. Rejects with
   * InternalError, before anything is sent, for a line with CR or LF (it could smuggle a second
   * command) or for a verb that has its own method here (EHLO, HELO, STARTTLS, XCLIENT, DATA,
   * BDAT, QUIT).
   */
  command(line: string, timeoutMs?: number): Promise<SmtpReply> {
    const verb = /^\s*(\S*)/.exec(line)![1]!.toUpperCase();
    if (OWN_VERBS.has(verb)) return Promise.reject(new InternalError(`${verb} must not be sent through command()`));
    return this.#exclusive(async () => toSmtpReply(await this.#exchange(line, timeoutMs)));
  }

  rset(): Promise<SmtpReply> {
    return this.command('RSET');
  }

  /**
   * Hands the client's identity to the upstream (Postfix XCLIENT_README). Sends only the
   * attributes the upstream listed, xtext-encoded, in lines of at most 512 bytes; after the new
   * 220 greeting it greets again with `heloName` and refreshes the capabilities. Resolves with
   * the first non-2xx XCLIENT reply or else the reply to that greeting; it does not throw on
   * refusals, the caller decides. Rejects with UpstreamMissingExtensionError when no attribute
   * can be sent (XCLIENT not offered, or none of these attributes).
   */
  xclient(attributes: Record<string, string | undefined>, heloName: string): Promise<SmtpReply> {
    return this.#exclusive(async () => {
      // Checked before the first XCLIENT, which would leave the session half handed over.
      assertOneLine(heloName);
      const lines = xclientCommands(attributes, this.#capabilities.xclientAttributes);
      if (lines.length === 0) throw new UpstreamMissingExtensionError(`XCLIENT ${Object.keys(attributes).join(' ')}`.trim());
      let reply: RawReply | undefined;
      for (const line of lines) {
        reply = await this.#exchange(line);
        if (!isSuccess(reply)) {
          // After an earlier line's 220 the session is at its greeting again: greet, so the
          // capabilities (XCLIENT among them) say what the caller may still do on it.
          if (this.#capabilities.keywords.size === 0) await this.#greet(heloName);
          return toSmtpReply(reply);
        }
        // A 220 is a fresh greeting: the session starts over, what EHLO said no longer holds.
        if (reply.code === 220) this.#capabilities = Capabilities.none();
      }
      if (reply!.code === 220) reply = await this.#greet(heloName);
      return toSmtpReply(reply!);
    });
  }

  /**
   * Sends the message of `size` bytes: as one `BDAT <size> LAST` when the upstream offers
   * CHUNKING and options.chunking allows it, else with DATA. Either way resolves with the
   * upstream's reply to the whole message, which callers relay as they would DATA's.
   */
  sendMessage(message: Readable, size: number): Promise<SmtpReply> {
    return this.#exclusive(() => (this.#options.chunking && this.#capabilities.chunking ? this.#bdat(message, size) : this.#data(message)));
  }

  /**
   * Sends DATA and, after a 354, the message: dot-stuffed, with backpressure, then the final
   * dot; resolves with the upstream's reply to it (within dataTimeout). Any other reply to DATA
   * is returned as it is and the message is not read. The message stream is always consumed or
   * destroyed.
   *
   * If the message stream fails, the connection is dropped without the final dot (a partial
   * message must never look complete) and the stream's own error is rethrown. If the upstream
   * answers with a 4xx/5xx before the end and hangs up, that reply is returned (`closed` is
   * then true).
   */
  data(message: Readable): Promise<SmtpReply> {
    return this.#exclusive(() => this.#data(message));
  }

  async #data(message: Readable): Promise<SmtpReply> {
    const reply = await this.#exchange('DATA').catch((error: unknown) => {
      message.destroy();
      throw error;
    });
    if (reply.code !== 354) {
      message.destroy();
      return toSmtpReply(reply);
    }
    return this.#transmit('DATA', () => writeMessage(this.#transport, message, this.#options.commandTimeout));
  }

  /**
   * BDAT needs no go-ahead: the command and the message leave together (bdat-writer.ts), and
   * its one reply is DATA's final one. A stream that fails or does not match `size` drops the
   * connection, as during DATA.
   */
  #bdat(message: Readable, size: number): Promise<SmtpReply> {
    return this.#transmit('BDAT', () => writeChunk(this.#transport, message, size, this.#options.commandTimeout));
  }

  /** Writes the message with `write` and resolves with the reply to all of it. */
  async #transmit(command: 'DATA' | 'BDAT', write: () => Promise<void>): Promise<SmtpReply> {
    try {
      await write();
    } catch (error) {
      if (!this.#transport.closed) {
        // The message failed, not the upstream. The only way out would be an end for a partial
        // message (the final dot, or the rest of the announced size), so hang up instead.
        this.#transport.destroy(new UpstreamClosedError(`message stream failed during ${command}; connection dropped`, { cause: error }));
        throw error;
      }
      // A refusal before the end (a 552 for a message too big) is the upstream's own answer
      // about this message; the transport closed because it came early.
      const early = this.#transport.unsolicited;
      if (early && early.code >= 400) return toSmtpReply(early);
      throw error;
    }
    const final = await this.#transport.read(this.#options.dataTimeout);
    events.upstreamReply.publish({ command, class: replyClass(final.code) });
    return toSmtpReply(final);
  }

  /** QUIT, then close, waiting at most 2 s (or commandTimeout) for the 221. Never rejects. */
  async quit(): Promise<void> {
    try {
      await this.#exclusive(async () => {
        if (!this.closed) await this.#exchange('QUIT', Math.min(QUIT_WAIT_MS, this.#options.commandTimeout));
      });
    } catch {
      // Leaving anyway: a missing 221 changes nothing.
    }
    this.#transport.destroy(AFTER_QUIT);
  }

  /** Closes now; what is pending rejects with UpstreamClosedError. */
  destroy(): void {
    this.#transport.destroy(new UpstreamClosedError('upstream connection destroyed'));
  }

  async #open(): Promise<void> {
    if (this.banner.code !== 220) {
      await this.quit();
      throw new UpstreamRefusedError(`upstream refused the connection: ${formatReply(this.banner)}`, this.banner);
    }
    await this.#mustGreet(this.#options.localName);
    if (this.#options.tls.mode !== 'off') await this.#startTls();
  }

  async #startTls(): Promise<void> {
    const { tls: settings, host, connectTimeout, localName } = this.#options;
    const required = settings.mode === 'required';
    if (!this.#capabilities.starttls) {
      if (required) throw new UpstreamMissingExtensionError('STARTTLS');
      return;
    }
    const reply = await this.#exchange('STARTTLS');
    if (reply.code !== 220) {
      // The dialogue is still in step after a refusal, so opportunistic TLS carries on in plaintext.
      if (required) throw new UpstreamRefusedError(`upstream refused STARTTLS: ${reply.code} ${reply.lines.join(' ')}`, toSmtpReply(reply));
      return;
    }
    const servername = settings.servername ?? (net.isIP(host) ? undefined : host);
    await this.#transport.startTls({ host, servername, rejectUnauthorized: settings.rejectUnauthorized, ca: settings.ca }, connectTimeout);
    this.#secure = true;
    // RFC 3207 4.2: everything learnt before TLS is discarded and the client greets again.
    await this.#mustGreet(localName);
  }

  async #mustGreet(name: string): Promise<void> {
    const reply = await this.#greet(name);
    if (!isSuccess(reply)) throw new UpstreamRefusedError(`upstream refused our greeting: ${reply.code} ${reply.lines.join(' ')}`, toSmtpReply(reply));
  }

  /** EHLO, or HELO (no extensions) when the upstream answers EHLO with a 5xx. */
  async #greet(name: string): Promise<RawReply> {
    this.#capabilities = Capabilities.none();
    const ehlo = await this.#exchange(`EHLO ${name}`);
    if (isSuccess(ehlo)) {
      this.#capabilities = Capabilities.fromEhlo(ehlo.lines);
      return ehlo;
    }
    return ehlo.code >= 500 ? this.#exchange(`HELO ${name}`) : ehlo;
  }

  /** Sends one line, resolves with its reply. Every line we send passes here. */
  async #exchange(line: string, timeoutMs = this.#options.commandTimeout): Promise<RawReply> {
    assertOneLine(line);
    this.#transport.send(line);
    const reply = await this.#transport.read(timeoutMs);
    if (events.upstreamReply.channel.hasSubscribers) {
      events.upstreamReply.publish({ command: /^\S*/.exec(line)![0].toUpperCase(), class: replyClass(reply.code) });
    }
    return reply;
  }

  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
