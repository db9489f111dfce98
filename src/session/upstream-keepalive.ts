import { UpstreamRefusedError } from '../errors.js';
import { formatReply, type SmtpReply } from '../smtp/reply.js';

/** The one thing a keepalive asks of the upstream client. */
export interface NoopTarget {
  command(line: string, timeoutMs?: number): Promise<SmtpReply>;
}

export interface KeepAliveSettings {
  /** From one NOOP's reply to the next NOOP; 0 sends none. */
  readonly interval: number;
  /** How long each NOOP may wait for its reply (upstream.commandTimeout). */
  readonly commandTimeout: number;
}

/**
 * Keeps an upstream session that is in the middle of a transaction from being dropped as idle
 * (Postfix's smtpd_timeout, Exchange's connection inactivity timeout) while the proxy is busy
 * with the client's message: a NOOP every `interval`, which RFC 5321 4.1.1.9 allows at any
 * point. The next NOOP is timed from the reply to the last, so they never queue up behind a
 * slow upstream.
 *
 * `target` is asked for the client at each NOOP: a session already gone fails the keepalive
 * with the same error the message would meet. The first failure ends the keepalive and is kept
 * for throwIfFailed().
 */
export class UpstreamKeepAlive {
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #failure: unknown;
  #stopped = false;

  constructor(
    private readonly target: () => NoopTarget,
    private readonly settings: KeepAliveSettings,
  ) {
    this.#schedule();
  }

  /** Sends no more NOOPs; resolves once the one in flight, if any, is answered. Never rejects. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#inFlight;
  }

  /**
   * Throws the first NOOP failure (an UpstreamError, whose reply is a 4xx): the session is lost
   * or out of step, and a message sent over it must fail as it would have without keepalive.
   */
  throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }

  #schedule(): void {
    if (this.#stopped || this.settings.interval === 0) return;
    this.#timer = setTimeout(() => {
      this.#inFlight = this.#noop();
    }, this.settings.interval);
    // The session's own deadlines decide when it ends, not this timer.
    this.#timer.unref();
  }

  async #noop(): Promise<void> {
    try {
      const reply = await this.target().command('NOOP', this.settings.commandTimeout);
      if (reply.code < 200 || reply.code >= 300) throw new UpstreamRefusedError(`upstream refused NOOP: ${formatReply(reply)}`, reply);
      this.#schedule();
    } catch (error) {
      this.#failure = error;
    }
  }
}
