import net, { type Socket } from 'node:net';

/** Where a scanning engine listens: a unix socket, or a TCP host and port. */
export type Endpoint = { readonly path: string } | { readonly host: string; readonly port: number };

export function describeEndpoint(endpoint: Endpoint): string {
  return 'path' in endpoint ? endpoint.path : `${endpoint.host}:${endpoint.port}`;
}

/** A failed exchange. `unavailable`: no connection was made; `protocol`: anything after that. */
export class EngineError extends Error {
  readonly kind: 'unavailable' | 'protocol';
  constructor(kind: 'unavailable' | 'protocol', message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.kind = kind;
  }
}

export interface Conversation<T> {
  /** Writes the request once connected; the reply may settle the exchange while it runs. */
  send(socket: Socket): Promise<void>;
  /** Each chunk received; returning a value settles the exchange, throwing fails it. */
  received(chunk: Buffer): T | undefined;
  /** The engine closed before `received` settled; return the result or throw. */
  closed(socketError: Error | undefined): T;
  /** The error for a connection that could not be made. */
  unavailable(error: Error): Error;
  /** Runs once when the exchange ends, whatever the outcome (close the message stream, say). */
  release?(): void;
}

/**
 * One connection, one request, one reply, for the engines' line protocols (clamd, spamd). The
 * socket is destroyed when the exchange ends, the signal aborts it at once, and a write error
 * does not end it: the engine's reply may still be on its way (clamd answers "size limit
 * exceeded" and closes mid-upload).
 */
export function exchange<T>(endpoint: Endpoint, signal: AbortSignal, conversation: Conversation<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    signal.throwIfAborted();
    const socket = 'path' in endpoint ? net.connect(endpoint.path) : net.connect(endpoint.port, endpoint.host);
    let connected = false;
    let socketError: Error | undefined;
    let settled = false;

    const finish = (settle: () => void): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      conversation.release?.();
      settle();
    };
    const fail = (error: unknown): void => finish(() => reject(error));
    const attempt = (step: () => T | undefined): void => {
      if (settled) return;
      try {
        const result = step();
        if (result !== undefined) finish(() => resolve(result));
      } catch (error) {
        fail(error);
      }
    };
    const onAbort = (): void => fail(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });

    socket.on('error', (error) => {
      socketError = error;
      if (!connected) fail(conversation.unavailable(error));
    });
    socket.on('connect', () => {
      connected = true;
      conversation.send(socket).catch(fail);
    });
    socket.on('data', (chunk: Buffer) => attempt(() => conversation.received(chunk)));
    socket.on('close', () => attempt(() => conversation.closed(socketError)));
  });
}

/**
 * Writes after a turn of the event loop, so that a reply the engine sent before closing is read
 * before a write can fail: Node destroys a socket on a write error (EPIPE, ECONNRESET) and
 * unread bytes die with it. Waits for 'drain' when the socket's buffer is full, so memory stays
 * at one chunk whatever the message size. Resolves false once the exchange is over.
 */
export async function write(socket: Socket, ...buffers: Buffer[]): Promise<boolean> {
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
