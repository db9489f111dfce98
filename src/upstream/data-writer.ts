import type { Readable } from 'node:stream';
import { DotStuffer } from './dot-stuffer.js';
import type { Transport } from './transport.js';

/**
 * Writes a message after the upstream's 354: dot-stuffed, with backpressure (a stall longer
 * than `stallTimeoutMs` fails the connection), ending with the final dot. Resolves once all of
 * it is handed to the socket; the caller then reads the reply. Rejects with the message
 * stream's own error if it fails, in which case no final dot has been written.
 *
 * Chunks go out as they come, but the last two are held back: the last one carries the final
 * dot, so its reply must be expected before it is written (anything earlier is no reply), and
 * it goes out together with the chunk before it, so a small message costs one write.
 */
export async function writeMessage(transport: Transport, message: Readable, stallTimeoutMs: number): Promise<void> {
  const stuffer = new DotStuffer();
  message.once('error', (error) => stuffer.destroy(error));
  message.pipe(stuffer);
  const held: Buffer[] = [];
  try {
    for await (const chunk of stuffer as AsyncIterable<Buffer>) {
      held.push(chunk);
      if (held.length > 2) await transport.write(held.shift()!, false, stallTimeoutMs);
    }
  } finally {
    if (!message.readableEnded) message.destroy();
  }
  await transport.write(held.length === 1 ? held[0]! : Buffer.concat(held), true, stallTimeoutMs);
}
