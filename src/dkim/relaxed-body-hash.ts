import { createHash } from 'node:crypto';

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const TAB = 0x09;
const OUT_BYTES = 64 * 1024;

/**
 * The body hash (bh=) under RFC 6376 3.4.4 "relaxed" canonicalization, computed as the body
 * streams by through one reused output buffer. mailauth's own body hasher allocates a buffer
 * for every line: for a 50 MB message about a million small ArrayBuffers, which V8 may free
 * late (on Node 24 the proxy's peak RSS grew by 300 MiB now and then); this one allocates
 * nothing per line.
 *
 * Within a line every run of spaces and tabs becomes one space and a run at its end goes;
 * empty lines at the end of the body go; a non-empty body ends with one CRLF. Lines end with
 * CRLF: the spool holds no bare CR or LF (limits.bareLineFeed normalizes or refuses them).
 */
export class RelaxedBodyHash {
  private readonly hash = createHash('sha256');
  private readonly out = Buffer.allocUnsafe(OUT_BYTES);
  private used = 0;
  /** Spaces or tabs seen since the last content byte of the line. */
  private space = false;
  /** A CR waits to learn whether an LF follows. */
  private cr = false;
  /** Line ends not yet written: only content after them proves they are not trailing. */
  private lineEnds = 0;
  private content = false;

  update(chunk: Buffer): void {
    for (let index = 0; index < chunk.length; index++) {
      const byte = chunk[index]!;
      if (this.cr) {
        this.cr = false;
        if (byte === LF) {
          this.endLine();
          continue;
        }
        this.contentByte(CR);
      }
      if (byte === CR) this.cr = true;
      else if (byte === LF) this.endLine();
      else if (byte === SP || byte === TAB) this.space = true;
      else this.contentByte(byte);
    }
  }

  digest(): string {
    if (this.cr) this.contentByte(CR);
    if (this.content) {
      this.put(CR);
      this.put(LF);
    }
    this.flush();
    return this.hash.digest('base64');
  }

  private endLine(): void {
    this.space = false;
    this.lineEnds++;
  }

  private contentByte(byte: number): void {
    for (; this.lineEnds > 0; this.lineEnds--) {
      this.put(CR);
      this.put(LF);
    }
    if (this.space) {
      this.space = false;
      this.put(SP);
    }
    this.put(byte);
    this.content = true;
  }

  private put(byte: number): void {
    if (this.used === OUT_BYTES) this.flush();
    this.out[this.used++] = byte;
  }

  private flush(): void {
    this.hash.update(this.out.subarray(0, this.used));
    this.used = 0;
  }
}
