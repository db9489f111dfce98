import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { EngineError, describeEndpoint, exchange, write, type Endpoint } from '../shared/engine-socket.js';
import { MAX_RESPONSE } from './protocol.js';

export type SpamdEndpoint = Endpoint;

/** A failed exchange. `unavailable`: no connection was made; `protocol`: anything after that. */
export class SpamdError extends EngineError {}

export const describe = describeEndpoint;

/** Bytes to send after the request head; `length` is what the head's Content-length said. */
export interface Body {
  readonly open: () => Readable;
  readonly length: number;
}

/**
 * Sends `head` and then `body`, and resolves with everything spamd sent before it closed the
 * connection (spamd answers one request per connection). The parser judges completeness.
 */
export function request(endpoint: SpamdEndpoint, head: Buffer, body: Body | undefined, signal: AbortSignal): Promise<Buffer> {
  let stream: Readable | undefined;
  const send = async (socket: Socket): Promise<void> => {
    if (!(await write(socket, head))) return;
    if (body !== undefined) {
      stream = body.open();
      let sent = 0;
      for await (const data of stream as AsyncIterable<Buffer>) {
        sent += data.length;
        // spamd must never read past the Content-length we announced, nor wait for bytes that will not come.
        if (sent > body.length) throw new SpamdError('protocol', `message stream is longer than its size (${body.length} bytes)`);
        if (!(await write(socket, data))) return;
      }
      if (sent !== body.length) throw new SpamdError('protocol', `message stream gave ${sent} bytes, its size is ${body.length}`);
    }
    // As spamc does: spamd needs no EOF, but a half-close says plainly that nothing more is coming.
    socket.end();
  };
  const received: Buffer[] = [];
  let receivedBytes = 0;
  return exchange<Buffer>(endpoint, signal, {
    send,
    release: () => stream?.destroy(),
    received(chunk) {
      received.push(chunk);
      receivedBytes += chunk.length;
      if (receivedBytes > MAX_RESPONSE) throw new SpamdError('protocol', `spamd reply longer than ${MAX_RESPONSE} bytes`);
      return undefined;
    },
    closed(socketError) {
      // A reset after spamd's reply (it answers errors and closes while we still upload) leaves the reply good.
      if (receivedBytes > 0) return Buffer.concat(received);
      const why = socketError ? ` (${socketError.message})` : '';
      throw new SpamdError('protocol', `spamd closed the connection without a reply${why}`, { cause: socketError });
    },
    unavailable: (error) => new SpamdError('unavailable', `cannot connect to spamd at ${describe(endpoint)}: ${error.message}`, { cause: error }),
  });
}
