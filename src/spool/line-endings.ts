const CR = 0x0d;
const LF = 0x0a;
const CRLF = Buffer.from('\r\n');

/**
 * Turns every bare CR and bare LF of a message into CRLF, chunk by chunk. A bare line break
 * must never reach the upstream, where some MTA could read it as part of an end-of-data
 * sequence (SMTP smuggling); Postfix 3.9 normalizes the same way. Chunks that hold only
 * proper CRLF pairs (nearly all mail) pass through without a copy.
 */
export class LineEndingNormalizer {
  /** How many bare CR or LF were found so far. */
  bareLineBreaks = 0;
  /** A CR at the very end of the last chunk, held back until we know whether LF follows. */
  private pendingCR = false;

  push(chunk: Buffer): Buffer {
    if (chunk.length === 0) return chunk;
    const carried = this.pendingCR;
    const last = chunk.length - 1;
    this.pendingCR = chunk[last] === CR;
    const body = this.pendingCR ? chunk.subarray(0, last) : chunk;
    if (carried) {
      // The held-back CR pairs with a leading LF; otherwise it was bare.
      if (chunk[0] === LF) return Buffer.concat([Buffer.of(CR), this.fix(body, true)]);
      this.bareLineBreaks++;
      return Buffer.concat([CRLF, this.fix(body, false)]);
    }
    return this.fix(body, false);
  }

  /** Call at the end of the message: a CR still held back was bare. */
  end(): Buffer {
    if (!this.pendingCR) return Buffer.alloc(0);
    this.pendingCR = false;
    this.bareLineBreaks++;
    return CRLF;
  }

  /** `leadingLFPaired`: the chunk's first byte is an LF whose CR came in the previous chunk. */
  private fix(chunk: Buffer, leadingLFPaired: boolean): Buffer {
    if (isWellFormed(chunk, leadingLFPaired)) return chunk;
    const out = Buffer.allocUnsafe(chunk.length * 2);
    let length = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (byte === CR) {
        out[length++] = CR;
        out[length++] = LF;
        if (chunk[i + 1] === LF) i++;
        else this.bareLineBreaks++;
      } else if (byte === LF) {
        if (!(i === 0 && leadingLFPaired)) {
          out[length++] = CR;
          this.bareLineBreaks++;
        }
        out[length++] = LF;
      } else {
        out[length++] = byte;
      }
    }
    return out.subarray(0, length);
  }
}

/** True when every LF follows a CR and every CR precedes an LF, within the chunk. */
function isWellFormed(chunk: Buffer, leadingLFPaired: boolean): boolean {
  let crs = 0;
  for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, i + 1)) {
    if (i === 0 ? !leadingLFPaired : chunk[i - 1] !== CR) return false;
    if (i > 0) crs++;
  }
  // Every CR found so far is paired; any other CR in the chunk is bare.
  for (let i = chunk.indexOf(CR), seen = 0; i !== -1; i = chunk.indexOf(CR, i + 1)) {
    if (++seen > crs) return false;
  }
  return true;
}
