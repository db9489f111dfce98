import type { Readable } from 'node:stream';
import { InternalError } from '../errors.js';
import type { Transport } from './transport.js';

/** Pieces are gathered up to this many bytes and written together (one writev, no copy). */
const BATCH_BYTES = 64 * 1024;

/**
 * Writes `BDAT <size> LAST` and the message as it is (RFC 3030): no dot-stuffing and no
 * end-of-data sequence, so nothing in the content can end the message early. The upstream reads
 * exactly `size` bytes after the command line, so the stream must yield exactly that many: one
 * byte more would be read as the next command, one fewer leaves the upstream waiting. Either way
 * an InternalError is thrown before the excess or the last byte is written (the caller then
 * drops the connection).
 *
 * The command line goes out with the first piece, and the last batch is held back until the
 * stream has ended, as it carries the end of the command and its reply must be expected before
 * it is written: a small message is one write and one round trip. Resolves once all of it is
 * handed to the socket; rejects with the message stream's own error if it fails.
 */
export async function writeChunk(transport: Transport, message: Readable, size: number, stallTimeoutMs: number): Promise<void> {
  let batch: Buffer[] = [Buffer.from(`BDAT ${size} LAST\r\n`)];
  let batched = 0;
  let read = 0;
  try {
    for await (const chunk of message as AsyncIterable<Buffer>) {
      read += chunk.length;
      if (read > size) throw new InternalError(`message longer than the ${size} bytes announced with BDAT`);
      batch.push(chunk);
      batched += chunk.length;
      if (batched >= BATCH_BYTES && read < size) {
        await transport.write(batch, false, stallTimeoutMs);
        batch = [];
        batched = 0;
      }
    }
  } finally {
    if (!message.readableEnded) message.destroy();
  }
  if (read !== size) throw new InternalError(`message of ${read} bytes, ${size} announced with BDAT`);
  await transport.write(batch, true, stallTimeoutMs);
}
