import net from 'node:net';
import tls from 'node:tls';
import {
  UpstreamClosedError,
  UpstreamProtocolError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
} from '../errors.js';
import { ReplyParser, type RawReply } from './reply-parser.js';

/**
 * One socket to the upstream and the replies coming back on it. It knows nothing of SMTP
 * commands, only that each reply must have been asked for. One caller, one operation at a time
 * (UpstreamClient serializes its calls):
 * - send()/write(..., true) count one reply as expected; a fresh connection expects its banner.
 * - A reply nobody expected (a 421 before the upstream hangs up, a second reply to one command,
 *   an answer in the middle of the message body) means the dialogue is out of step: the reply is
 *   kept in `unsolicited` and the connection is closed, so it can never pass for the answer to
 *   the next command.
 * - Any failure (timeout, protocol error, reset, abort) closes the connection for good; what
 *   was pending rejects with the reason, later calls reject with UpstreamClosedError.
 */
export class Transport {
  #socket: net.Socket;
  readonly #parser = new ReplyParser();
  readonly #signal: AbortSignal | undefined;
  #expected = 1;
  #ready: RawReply[] = [];
  #waiter: { resolve: (reply: RawReply) => void; reject: (error: Error) => void; timer: NodeJS.Timeout } | undefined;
  #failure: Error | undefined;
  #unsolicited: RawReply | undefined;
  #resolveClosed!: () => void;
  /** Resolves once the socket is fully closed. Never rejects. */
  readonly closedPromise = new Promise<void>((resolve) => (this.#resolveClosed = resolve));

  private constructor(socket: net.Socket, signal: AbortSignal | undefined) {
    this.#socket = socket;
    this.#signal = signal;
    this.#attach(socket);
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** TCP connection within `timeoutMs`; any failure to get one is UpstreamUnavailableError. */
  static connect(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<Transport> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port, noDelay: true });
      const where = `${host}:${port}`;
      let settled = false;
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.off('connect', onConnect);
        if (!error) return resolve(new Transport(socket, signal));
        socket.destroy();
        reject(error);
      };
      const timer = setTimeout(() => settle(new UpstreamUnavailableError(`connecting to upstream ${where} timed out after ${timeoutMs} ms`)), timeoutMs);
      const onConnect = () => settle();
      const onAbort = () => settle(abortError(signal!));
      // Stays attached: an 'error' without a listener would crash the process.
      socket.on('error', (error: NodeJS.ErrnoException) =>
        settle(new UpstreamUnavailableError(`cannot connect to upstream ${where}: ${error.code ?? error.message}`, { cause: error })),
      );
      socket.once('connect', onConnect);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Our end of the connection: the address the upstream sees as its client. */
  get localAddress(): string | undefined {
    return this.#socket.localAddress;
  }

  get closed(): boolean {
    return this.#failure !== undefined;
  }

  /** The reply that arrived when none was expected, if that is why the connection closed. */
  get unsolicited(): RawReply | undefined {
    return this.#unsolicited;
  }

  /** Writes one command line and expects one reply to it. */
  send(line: string): void {
    if (this.closed) return; // read() reports why
    this.#expected++;
    this.#socket.write(`${line}\r\n`);
  }

  /**
   * Writes bytes with backpressure: resolves once the socket takes more, fails the connection
   * when the upstream stops reading for `timeoutMs`. `expectReply` marks the bytes that complete
   * a command (the end of the message body), before they can reach the upstream. Several
   * buffers leave together, in one writev.
   */
  async write(chunks: Buffer | readonly Buffer[], expectReply: boolean, timeoutMs: number): Promise<void> {
    if (this.closed) throw this.#closedError();
    if (expectReply) this.#expected++;
    const socket = this.#socket;
    if (Buffer.isBuffer(chunks)) {
      socket.write(chunks);
    } else {
      socket.cork();
      for (const chunk of chunks) socket.write(chunk);
      socket.uncork();
    }
    if (socket.writableNeedDrain) {
      await this.#waitFor('drain', timeoutMs, `upstream stopped reading the message for ${timeoutMs} ms`);
    }
  }

  /** The next expected reply; none within `timeoutMs` fails the connection (out of step). */
  read(timeoutMs: number): Promise<RawReply> {
    const ready = this.#ready.shift();
    if (ready) return Promise.resolve(ready);
    if (this.closed) return Promise.reject(this.#closedError());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#fail(new UpstreamTimeoutError(`no reply from upstream within ${timeoutMs} ms`)), timeoutMs);
      this.#waiter = { resolve, reject, timer };
    });
  }

  /**
   * Puts TLS over the socket after the upstream's 220 to STARTTLS. Anything the upstream sent
   * after that reply arrived in plaintext and could be an attacker's injected reply (the
   * STARTTLS injection of CVE-2011-0411, seen from the client side): that is a protocol error.
   */
  async startTls(options: tls.ConnectionOptions, timeoutMs: number): Promise<void> {
    if (this.closed) throw this.#closedError();
    if (this.#parser.buffered || this.#ready.length > 0) {
      const error = new UpstreamProtocolError('upstream sent data after its STARTTLS reply');
      this.#fail(error);
      throw error;
    }
    const plain = this.#socket;
    plain.off('data', this.#onData).off('end', this.#onEnd).off('close', this.#onClose);
    this.#socket = tls.connect({ ...options, socket: plain });
    this.#attach(this.#socket);
    try {
      await this.#waitFor('secureConnect', timeoutMs, `TLS handshake with upstream timed out after ${timeoutMs} ms`);
    } catch (error) {
      if (error instanceof UpstreamTimeoutError) throw error;
      // The TLS error underneath (certificate, protocol version) is what an operator needs.
      const { cause, message } = error as Error;
      throw new UpstreamUnavailableError(`TLS handshake with upstream failed: ${cause instanceof Error ? cause.message : message}`, { cause: error });
    }
  }

  /** Closes the connection now; whatever is pending rejects with `reason`. */
  destroy(reason: Error): void {
    this.#fail(reason);
  }

  #attach(socket: net.Socket): void {
    socket.on('data', this.#onData).on('end', this.#onEnd).on('close', this.#onClose);
    socket.on('error', (error: Error) => this.#fail(new UpstreamClosedError(`upstream connection error: ${error.message}`, { cause: error })));
  }

  #onData = (chunk: Buffer): void => {
    let replies: RawReply[];
    try {
      replies = this.#parser.push(chunk);
    } catch (error) {
      return this.#fail(error as Error);
    }
    for (const reply of replies) {
      if (this.closed) return;
      if (this.#expected === 0) {
        this.#unsolicited = reply;
        return this.#fail(new UpstreamClosedError(`unexpected reply from upstream: ${reply.code} ${reply.lines.join(' / ')}`));
      }
      this.#expected--;
      const waiter = this.#waiter;
      if (!waiter) {
        this.#ready.push(reply);
        continue;
      }
      this.#waiter = undefined;
      clearTimeout(waiter.timer);
      waiter.resolve(reply);
    }
  };

  // After our own QUIT or destroy the failure is already set: no error object to build.
  #onEnd = (): void => {
    if (!this.#failure) this.#fail(new UpstreamClosedError('upstream closed the connection'));
  };

  #onClose = (): void => {
    if (!this.#failure) this.#fail(new UpstreamClosedError('upstream connection closed'));
    this.#resolveClosed();
  };

  #onAbort = (): void => this.#fail(abortError(this.#signal!));

  #fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (waiter) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.#socket.destroy();
  }

  /** Waits for a socket event; the connection failing first rejects with the failure. */
  #waitFor(event: 'drain' | 'secureConnect', timeoutMs: number, timeoutMessage: string): Promise<void> {
    const socket = this.#socket;
    return new Promise((resolve, reject) => {
      const done = (error?: Error) => {
        clearTimeout(timer);
        socket.off(event, onEvent).off('close', onClose);
        if (error) reject(error);
        else resolve();
      };
      const onEvent = () => done();
      // #onClose was attached first, so #failure holds the reason by now.
      const onClose = () => done(this.#failure ?? new UpstreamClosedError('upstream connection closed'));
      const timer = setTimeout(() => this.#fail(new UpstreamTimeoutError(timeoutMessage)), timeoutMs);
      socket.once(event, onEvent).once('close', onClose);
    });
  }

  #closedError(): UpstreamClosedError {
    return new UpstreamClosedError(`upstream connection is closed (${this.#failure?.message})`, { cause: this.#failure });
  }
}

function abortError(signal: AbortSignal): UpstreamClosedError {
  return new UpstreamClosedError('upstream connection aborted', { cause: signal.reason });
}
