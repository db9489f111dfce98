import { Transform, type TransformCallback } from 'node:stream';

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const END = Buffer.from('.\r\n');
const CRLF_END = Buffer.from('\r\n.\r\n');
const LF_END = Buffer.from('\n.\r\n');

/**
 * Turns a message into the bytes that follow DATA: every line ending becomes CRLF, every line
 * starting with "." gets another "." (RFC 5321 4.5.2), and the end is CRLF "." CRLF.
 *
 * The spool already normalized line endings, but a bare CR or LF is still treated as a line end
 * and written as CRLF here: some MTAs end DATA on "\n.\n" or "\r.\r", and a line we failed to
 * stuff because we did not see it as a line would let one message smuggle another (the SMTP
 * smuggling attacks of 2023). So nothing leaves that any MTA could read as the end of data.
 *
 * Hot path: line ends are found with Buffer.indexOf; a chunk that needs no change is pushed as
 * it is, without a copy. The terminator is only written by _flush, i.e. only after the source
 * ended cleanly: a source that errors never produces an end of data.
 */
export class DotStuffer extends Transform {
  /** The next byte begins a line (true at the start: the first line may begin with "."). */
  #lineStart = true;
  /** The previous chunk ended with a CR; its LF, if it has one, starts this chunk. */
  #pendingCR = false;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (chunk.length > 0) this.push(this.#stuff(chunk));
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.push(this.#pendingCR ? LF_END : this.#lineStart ? END : CRLF_END);
    callback();
  }

  #stuff(chunk: Buffer): Buffer {
    const length = chunk.length;
    // Allocated at the first change only. Each input byte causes at most one inserted byte
    // (a dot before a line's ".", a CR before a bare LF, an LF after a bare CR), plus the LF
    // of a CR left pending by the previous chunk: 2n + 1 always suffices.
    let out: Buffer | undefined;
    let written = 0;
    let from = 0; // chunk[from..] is not yet in out
    let pos = 0; // chunk[..pos] has been examined
    const insert = (at: number, byte: number) => {
      out ??= Buffer.allocUnsafe(2 * length + 1);
      written += chunk.copy(out, written, from, at);
      out[written++] = byte;
      from = at;
    };
    if (this.#pendingCR) {
      this.#pendingCR = false;
      this.#lineStart = true;
      if (chunk[0] === LF) pos = 1;
      else insert(0, LF); // the CR was bare: complete it to CRLF
    }
    let nextCR = chunk.indexOf(CR, pos);
    let nextLF = chunk.indexOf(LF, pos);
    for (;;) {
      if (this.#lineStart) {
        if (pos === length) break;
        if (chunk[pos] === DOT) insert(pos, DOT);
        this.#lineStart = false;
      }
      // Each index is searched again only once passed, so a chunk is scanned about twice.
      if (nextCR !== -1 && nextCR < pos) nextCR = chunk.indexOf(CR, pos);
      if (nextLF !== -1 && nextLF < pos) nextLF = chunk.indexOf(LF, pos);
      if (nextLF !== -1 && (nextCR === -1 || nextLF < nextCR)) {
        insert(nextLF, CR); // bare LF
        pos = nextLF + 1;
      } else if (nextCR === -1) {
        break;
      } else if (nextCR === length - 1) {
        this.#pendingCR = true; // CRLF or bare CR: the next chunk (or the end) tells
        break;
      } else if (chunk[nextCR + 1] === LF) {
        pos = nextCR + 2;
      } else {
        insert(nextCR + 1, LF); // bare CR
        pos = nextCR + 1;
      }
      this.#lineStart = true;
    }
    if (!out) return chunk;
    written += chunk.copy(out, written, from, length);
    return out.subarray(0, written);
  }
}
