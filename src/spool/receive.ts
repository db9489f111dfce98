import type { Readable } from 'node:stream';
import { LineEndingNormalizer } from './line-endings.js';
import type { Spool } from './spool.js';

export interface Received {
  /** The client sent more than the size limit; nothing past it was stored. */
  readonly sizeExceeded: boolean;
  /** Bare CR or LF found (normalized to CRLF unless `storeBare: false` stopped storing). */
  readonly bareLineBreaks: number;
  /** Storing failed (disk full, unwritable dir); the rest of the message was drained. */
  readonly error: unknown;
}

export interface ReceiveOptions {
  /** Stop storing at the first bare line break (limits.bareLineFeed: reject). */
  readonly rejectBareLineBreaks: boolean;
}

/**
 * Reads a client's DATA stream to its end into the spool, normalizing line endings. The stream
 * is always drained, whatever happens to the spool, so the SMTP dialogue stays in step and the
 * client gets its reply only once the whole message is in.
 */
export async function receiveMessage(stream: Readable & { sizeExceeded?: boolean }, spool: Spool, options: ReceiveOptions): Promise<Received> {
  const normalizer = new LineEndingNormalizer();
  let error: unknown;
  let storing = true;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (!storing) continue;
    const normalized = normalizer.push(chunk);
    if (stream.sizeExceeded || (options.rejectBareLineBreaks && normalizer.bareLineBreaks > 0)) {
      storing = false;
      continue;
    }
    try {
      await spool.write(normalized);
    } catch (caught) {
      error = caught;
      storing = false;
    }
  }
  const tail = normalizer.end();
  if (options.rejectBareLineBreaks && normalizer.bareLineBreaks > 0) storing = false;
  if (storing) {
    try {
      await spool.write(tail);
    } catch (caught) {
      error = caught;
    }
  }
  return { sizeExceeded: Boolean(stream.sizeExceeded), bareLineBreaks: normalizer.bareLineBreaks, error };
}
