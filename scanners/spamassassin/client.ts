import net, { type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { MAX_RESPONSE } from './protocol.js';

export type SpamdEndpoint = { readonly path: string } | { readonly host: string; readonly port: number };

/** A failed exchange. `unavailable`: no connection was made; `protocol`: anything after that. */
export class SpamdError extends Error {
  readonly kind: 'unavailable' | 'protocol';
  constructor(kind: 'unavailable' | 'protocol', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SpamdError';
    this.kind = kind;
  }
}

export function describe(endpoint: SpamdEndpoint): string {
  return 'path' in endpoint ? endpoint.path : `${endpoint.host}:${endpoint.port}`;
}

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
  return exchange(endpoint, signal, send, () => stream?.destroy());
}

function exchange(
  endpoint: SpamdEndpoint,
  signal: AbortSignal,
  send: (socket: Socket) => Promise<void>,
  release: () => void,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    signal.throwIfAborted();
    const socket = 'path' in endpoint ? net.connect(endpoint.path) : net.connect(endpoint.port, endpoint.host);
    const received: Buffer[] = [];
    let receivedBytes = 0;
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
        fail(new SpamdError('unavailable', `cannot connect to spamd at ${describe(endpoint)}: ${error.message}`, { cause: error }));
      }
    });
    socket.on('connect', () => {
      connected = true;
      send(socket).catch(fail);
    });
    socket.on('data', (data: Buffer) => {
      received.push(data);
      receivedBytes += data.length;
      if (receivedBytes > MAX_RESPONSE) fail(new SpamdError('protocol', `spamd reply longer than ${MAX_RESPONSE} bytes`));
    });
    socket.on('close', () => {
      // A reset after spamd's reply (it answers errors and closes while we still upload) leaves the reply good.
      if (receivedBytes > 0) finish(() => resolve(Buffer.concat(received)));
      const why = socketError ? ` (${socketError.message})` : '';
      fail(new SpamdError('protocol', `spamd closed the connection without a reply${why}`, { cause: socketError }));
    });
  });
}

/**
 * Writes after a turn of the event loop, so that a reply spamd sent before closing is read
 * before a write can fail: Node destroys a socket on a write error and unread bytes die with
 * it. Waits for 'drain' when the socket's buffer is full, so memory stays at one chunk
 * whatever the message size. Resolves false once the exchange is over.
 */
async function write(socket: Socket, data: Buffer): Promise<boolean> {
  await new Promise((resolve) => setImmediate(resolve));
  if (socket.destroyed) return false;
  if (!socket.write(data) && !socket.destroyed) await drained(socket);
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
