import net, { type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { INSTREAM, INSTREAM_END, MAX_REPLY, chunkHeader, takeReply } from './protocol.js';

export type ClamdEndpoint = { readonly path: string } | { readonly host: string; readonly port: number };

/** A failed exchange. `unavailable`: no connection was made; `protocol`: clamd misbehaved. */
export class ClamdError extends Error {
  readonly kind: 'unavailable' | 'protocol';
  constructor(kind: 'unavailable' | 'protocol', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClamdError';
    this.kind = kind;
  }
}

export function describe(endpoint: ClamdEndpoint): string {
  return 'path' in endpoint ? endpoint.path : `${endpoint.host}:${endpoint.port}`;
}

/** Sends a z-command (zPING, zVERSION) and resolves with clamd's reply. */
export function command(endpoint: ClamdEndpoint, request: Buffer, signal: AbortSignal): Promise<string> {
  return exchange(endpoint, signal, async (socket) => {
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
  return exchange(endpoint, signal, send, () => body?.destroy());
}

/**
 * One connection, one request, one NUL-terminated reply. The reply settles the exchange even
 * when it arrives mid-upload (clamd answers "size limit exceeded" and closes); a write error
 * does not, because clamd's reply may still be on its way.
 */
function exchange(
  endpoint: ClamdEndpoint,
  signal: AbortSignal,
  send: (socket: Socket) => Promise<void>,
  release: () => void = () => {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    signal.throwIfAborted();
    const socket = 'path' in endpoint ? net.connect(endpoint.path) : net.connect(endpoint.port, endpoint.host);
    let received = Buffer.alloc(0);
    let connected = false;
    let socketError: Error | undefined;
    let settled = false;

    const finish = (settle: () => void): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      release();
      settle();
    };
    const fail = (error: unknown): void => finish(() => reject(error));
    const onAbort = (): void => fail(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });

    socket.on('error', (error) => {
      socketError = error;
      if (!connected) {
        fail(new ClamdError('unavailable', `cannot connect to clamd at ${describe(endpoint)}: ${error.message}`, { cause: error }));
      }
    });
    socket.on('connect', () => {
      connected = true;
      send(socket).catch(fail);
    });
    socket.on('data', (data: Buffer) => {
      received = Buffer.concat([received, data]);
      const reply = takeReply(received);
      if (reply !== undefined) finish(() => resolve(reply));
      else if (received.length > MAX_REPLY) fail(new ClamdError('protocol', `clamd reply longer than ${MAX_REPLY} bytes`));
    });
    socket.on('close', () => {
      const why = socketError ? ` (${socketError.message})` : '';
      const Failure = socketError !== undefined && received.length === 0 ? CutOffError : ClamdError;
      fail(new Failure('protocol', `clamd closed the connection without a complete reply${why}`, { cause: socketError }));
    });
  });
}

/**
 * Writes one frame (or command) after a turn of the event loop, so that a reply clamd sent before closing
 * is read before a write can fail: Node destroys a socket on a write error (EPIPE, ECONNRESET)
 * and unread bytes die with it. Waits for 'drain' when the socket's buffer is full, so memory
 * stays at one chunk whatever the message size. Resolves false once the exchange is over.
 */
async function write(socket: Socket, ...buffers: Buffer[]): Promise<boolean> {
  await new Promise((resolve) => setImmediate(resolve));
  if (socket.destroyed) return false;
  socket.cork();
  let room = true;
  for (const buffer of buffers) room = socket.write(buffer);
  socket.uncork();
  if (!room && !socket.destroyed) await drained(socket);
  return !socket.destroyed;
}

function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}
