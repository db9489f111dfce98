import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DotStuffer } from './dot-stuffer.js';
import type { Transport } from './transport.js';

/**
 * Writes a message after the upstream's 354: dot-stuffed, with backpressure (a stall longer
 * than `stallTimeoutMs` fails the connection), ending with the final dot. Resolves once all of
 * it is handed to the socket; the caller then reads the reply. Rejects with the message
 * stream's own error if it fails, in which case no final dot has been written.
 */
export async function writeMessage(transport: Transport, message: Readable, stallTimeoutMs: number): Promise<void> {
  // One chunk is held back so that the last one, which carries the final dot, is known when
  // written: its reply must be expected before it can arrive, anything earlier is no reply.
  let held: Buffer | undefined;
  const upstream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const previous = held;
      held = chunk;
      if (!previous) return done();
      transport.write(previous, false, stallTimeoutMs).then(() => done(), done);
    },
    // Runs only when the message ended cleanly, so the DotStuffer has flushed its terminator.
    final(done) {
      transport.write(held!, true, stallTimeoutMs).then(() => done(), done);
    },
  });
  await pipeline(message, new DotStuffer(), upstream);
}
