import { UpstreamProtocolError } from '../errors.js';
import { replyFromLines, type SmtpReply } from '../smtp/reply.js';

/** One complete reply as the upstream sent it: the code and each line's text after `NNN-`/`NNN `. */
export interface RawReply {
  readonly code: number;
  readonly lines: readonly string[];
}

/**
 * Far above what any MTA sends (RFC 5321 allows 512 bytes a line), yet small enough that a
 * broken or hostile upstream cannot make us buffer without bound.
 */
export const REPLY_LIMITS = Object.freeze({ lineBytes: 4096, lines: 100, replyBytes: 64 * 1024 });

const LF = 0x0a;
const CR = 0x0d;
// A 1xx or 6xx is no SMTP reply; accepting it would only postpone the confusion.
const REPLY_LINE = /^([2-5]\d\d)([ -]|$)/;

/**
 * Incremental parser of SMTP replies: feed it bytes as they arrive, split anywhere, and it
 * returns the replies completed by each chunk. Any deviation from the reply grammar throws an
 * UpstreamProtocolError; after that the parser is unusable, as is the connection.
 */
export class ReplyParser {
  #partial: Buffer[] = [];
  #partialBytes = 0;
  #code = 0;
  #lines: string[] = [];
  #replyBytes = 0;

  /** Whether bytes of an unfinished reply are waiting (STARTTLS must not leave any behind). */
  get buffered(): boolean {
    return this.#partialBytes > 0 || this.#lines.length > 0;
  }

  push(chunk: Buffer): RawReply[] {
    const replies: RawReply[] = [];
    let start = 0;
    while (start < chunk.length) {
      const lf = chunk.indexOf(LF, start);
      if (lf === -1) {
        this.#keep(chunk.subarray(start));
        break;
      }
      let line = chunk.subarray(start, lf);
      if (this.#partialBytes > 0) {
        line = Buffer.concat([...this.#partial, line]);
        this.#partial = [];
        this.#partialBytes = 0;
      }
      start = lf + 1;
      const reply = this.#line(line);
      if (reply) replies.push(reply);
    }
    return replies;
  }

  #keep(rest: Buffer): void {
    this.#partialBytes += rest.length;
    // +1: the CR of the line's CRLF may already be here while its LF is not.
    if (this.#partialBytes > REPLY_LIMITS.lineBytes + 1) throw tooLong('reply line', REPLY_LIMITS.lineBytes);
    // Copy, so a few leftover bytes do not pin the whole socket chunk in memory.
    this.#partial.push(Buffer.from(rest));
  }

  #line(bytes: Buffer): RawReply | undefined {
    const end = bytes.length > 0 && bytes[bytes.length - 1] === CR ? bytes.length - 1 : bytes.length;
    if (end > REPLY_LIMITS.lineBytes) throw tooLong('reply line', REPLY_LIMITS.lineBytes);
    const text = bytes.toString('utf8', 0, end);
    const match = REPLY_LINE.exec(text);
    if (!match) throw new UpstreamProtocolError(`malformed reply line from upstream: ${quote(text)}`);
    const code = Number(match[1]);
    if (this.#code !== 0 && code !== this.#code) {
      throw new UpstreamProtocolError(`reply code changed from ${this.#code} to ${code} within one reply: ${quote(text)}`);
    }
    this.#code = code;
    this.#lines.push(text.slice(4));
    this.#replyBytes += bytes.length + 1;
    if (this.#lines.length > REPLY_LIMITS.lines) throw tooLong('reply', REPLY_LIMITS.lines, 'lines');
    if (this.#replyBytes > REPLY_LIMITS.replyBytes) throw tooLong('reply', REPLY_LIMITS.replyBytes);
    if (match[2] === '-') return undefined;
    const reply = { code, lines: this.#lines };
    this.#code = 0;
    this.#lines = [];
    this.#replyBytes = 0;
    return reply;
  }
}

/** The reply as callers see it: code, enhanced code and one line of text. */
export function toSmtpReply(raw: RawReply): SmtpReply {
  return replyFromLines(raw.code, raw.lines);
}

function tooLong(what: string, limit: number, unit = 'bytes'): UpstreamProtocolError {
  return new UpstreamProtocolError(`upstream ${what} exceeds ${limit} ${unit}`);
}

function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text);
}
