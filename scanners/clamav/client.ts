import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { EngineError, describeEndpoint, exchange, write, type Endpoint } from '../shared/engine-socket.js';
import { INSTREAM, INSTREAM_END, MAX_REPLY, chunkHeader, takeReply } from './protocol.js';

export type ClamdEndpoint = Endpoint;

/** A failed exchange. `unavailable`: no connection was made; `protocol`: clamd misbehaved. */
export class ClamdError extends EngineError {}

export const describe = describeEndpoint;

/** Sends a z-command (zPING, zVERSION) and resolves with clamd's reply. */
export function command(endpoint: ClamdEndpoint, request: Buffer, signal: AbortSignal): Promise<string> {
  return clamdExchange(endpoint, signal, async (socket) => {
    await write(socket, request);
  });
}

/**
 * Streams the bytes of `open()` as INSTREAM chunks of at most `chunkSize` bytes and resolves
 * with clamd's reply. The stream is opened only once clamd has accepted the connection.
 */
export async function instream(
  endpoint: ClamdEndpoint,
  open: () => Readable,
  chunkSize: number,
  signal: AbortSignal,
): Promise<string> {
  try {
    return await upload(endpoint, open, chunkSize, signal);
  } catch (error) {
    // Node destroys a socket on a write error, so when clamd answers and closes mid-upload
    // (StreamMaxLength) its reply can still be lost if it lands between a poll and a write
    // (about 1 upload in 100 here). clamd gives the same answer to the same bytes: ask again.
    // A clamd restarting mid-scan is the other cause, and also deserves a second try.
    if (error instanceof CutOffError) return await upload(endpoint, open, chunkSize, signal);
    throw error;
  }
}

/** The connection broke (a socket error after connecting) before any byte of a reply. */
class CutOffError extends ClamdError {}

function upload(endpoint: ClamdEndpoint, open: () => Readable, chunkSize: number, signal: AbortSignal): Promise<string> {
  let body: Readable | undefined;
  const send = async (socket: Socket): Promise<void> => {
    if (!(await write(socket, INSTREAM))) return;
    body = open();
    for await (const data of body as AsyncIterable<Buffer>) {
      for (let at = 0; at < data.length; at += chunkSize) {
        const part = data.subarray(at, at + chunkSize);
        if (!(await write(socket, chunkHeader(part.length), part))) return;
      }
    }
    await write(socket, INSTREAM_END);
  };
  return clamdExchange(endpoint, signal, send, () => body?.destroy());
}

/**
 * One connection, one request, one NUL-terminated reply. The reply settles the exchange even
 * when it arrives mid-upload (clamd answers "size limit exceeded" and closes).
 */
function clamdExchange(endpoint: ClamdEndpoint, signal: AbortSignal, send: (socket: Socket) => Promise<void>, release?: () => void): Promise<string> {
  let received = Buffer.alloc(0);
  return exchange<string>(endpoint, signal, {
    send,
    release,
    received(chunk) {
      received = Buffer.concat([received, chunk]);
      const reply = takeReply(received);
      if (reply === undefined && received.length > MAX_REPLY) throw new ClamdError('protocol', `clamd reply longer than ${MAX_REPLY} bytes`);
      return reply;
    },
    closed(socketError) {
      const why = socketError ? ` (${socketError.message})` : '';
      const Failure = socketError !== undefined && received.length === 0 ? CutOffError : ClamdError;
      throw new Failure('protocol', `clamd closed the connection without a complete reply${why}`, { cause: socketError });
    },
    unavailable: (error) => new ClamdError('unavailable', `cannot connect to clamd at ${describe(endpoint)}: ${error.message}`, { cause: error }),
  });
}
