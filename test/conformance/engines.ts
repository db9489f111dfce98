/**
 * Stand-ins the conformance kit and the scanning fault tests share: an engine that accepts and
 * never answers, an address where nothing listens, and messages held in memory (one of which
 * stalls half-way, like a spool reader that never ends).
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { SpooledMessage } from '../../src/spool/message.js';
import { freePort } from '../helpers/sink.js';
import { memoryMessage as inMemory } from '../helpers/memory-message.js';

export { freePort };

/** A unix socket path in the temp dir that no one listens on (the file does not exist). */
export function missingSocketPath(dir = os.tmpdir()): string {
  return path.join(dir, `ssp-missing-${process.pid}-${randomBytes(4).toString('hex')}.sock`);
}

/** One connection to a HungServer, as the server saw it. */
export interface HungConnection {
  readonly socket: net.Socket;
  readonly openedAt: number;
  /** Bytes the client sent (the server reads everything, so the client never blocks on writing). */
  readonly bytes: () => number;
  /** When the client half-closed (sent FIN), if it did. */
  readonly endedAt: () => number | undefined;
  /** When the connection was closed for good, if it was. */
  readonly closedAt: () => number | undefined;
  /**
   * Resolves with the time the client let go of the connection, or undefined if it still holds
   * it after `timeout` ms. A client that half-closed (spamc-style) and then closes sends no
   * packet a reading server could notice, so once the client has half-closed this writes one
   * probe byte every 50 ms: to a closed socket the kernel answers with a reset. The probe is a
   * single "Z", which completes no reply of clamd (NUL-terminated) or spamd (a status line).
   */
  waitClosed(timeout: number): Promise<number | undefined>;
}

/**
 * An engine that accepts connections, reads whatever it is sent and never answers (a hung
 * clamd or spamd). It keeps its side open when the client half-closes, as a busy daemon does.
 */
export interface HungServer {
  readonly host: string;
  /** The TCP port (0 when listening on a unix socket). */
  readonly port: number;
  /** The unix socket path, when started with one. */
  readonly path?: string;
  readonly connections: readonly HungConnection[];
  /** Resolves with the next (or the first not yet taken) connection; rejects after `timeout`. */
  nextConnection(timeout?: number): Promise<HungConnection>;
  close(): Promise<void>;
}

/** A hung engine on a loopback TCP port, or on the unix socket `socketPath` when given. */
export async function startHungServer(socketPath?: string): Promise<HungServer> {
  const connections: HungConnection[] = [];
  const waiting: ((connection: HungConnection) => void)[] = [];
  let taken = 0;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const openedAt = performance.now();
    let bytes = 0;
    let endedAt: number | undefined;
    let closedAt: number | undefined;
    const closeWaiters: (() => void)[] = [];
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
    socket.on('end', () => (endedAt = performance.now()));
    socket.on('close', () => {
      closedAt = performance.now();
      for (const wake of closeWaiters.splice(0)) wake();
    });
    const connection: HungConnection = {
      socket,
      openedAt,
      bytes: () => bytes,
      endedAt: () => endedAt,
      closedAt: () => closedAt,
      waitClosed: (timeout) =>
        new Promise((resolve) => {
          if (closedAt !== undefined) return resolve(closedAt);
          const probe = setInterval(() => {
            if (endedAt !== undefined && !socket.destroyed) socket.write('Z');
          }, 50);
          const timer = setTimeout(() => finish(), timeout);
          function finish() {
            clearInterval(probe);
            clearTimeout(timer);
            resolve(closedAt);
          }
          closeWaiters.push(finish);
        }),
    };
    connections.push(connection);
    const waiter = waiting.shift();
    if (waiter) {
      taken++;
      waiter(connection);
    }
  });
  await new Promise<void>((resolve) => (socketPath ? server.listen(socketPath, resolve) : server.listen(0, '127.0.0.1', resolve)));
  const port = socketPath ? 0 : (server.address() as net.AddressInfo).port;
  return {
    host: '127.0.0.1',
    port,
    ...(socketPath ? { path: socketPath } : {}),
    connections,
    nextConnection(timeout = 5000) {
      const ready = connections[taken];
      if (ready) {
        taken++;
        return Promise.resolve(ready);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(deliver), 1);
          reject(new Error(`no connection to the hung server within ${timeout} ms`));
        }, timeout);
        function deliver(connection: HungConnection) {
          clearTimeout(timer);
          resolve(connection);
        }
        waiting.push(deliver);
      });
    },
    close: () =>
      new Promise((resolve) => {
        for (const { socket } of connections) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The conformance samples come in 16 KiB chunks, so truncation cuts between chunks too. */
export function memoryMessage(bytes: Buffer | string, piece = 16 * 1024): SpooledMessage {
  return inMemory(bytes, piece);
}

/** A message whose every stream gives its first `given` bytes and then neither ends nor fails. */
export interface StalledMessage extends SpooledMessage {
  readonly streams: Readable[];
}

export function stalledMessage(bytes: Buffer, given = Math.floor(bytes.length / 2)): StalledMessage {
  const streams: Readable[] = [];
  return {
    size: bytes.length,
    streams,
    createReadStream() {
      let sent = false;
      const stream = new Readable({
        read() {
          if (!sent) {
            sent = true;
            this.push(bytes.subarray(0, given));
          }
          // then nothing: no more data, no end, no error
        },
      });
      streams.push(stream);
      return stream;
    },
  };
}

/** Reads a whole SpooledMessage (or a view of one). */
export async function readAll(message: SpooledMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of message.createReadStream() as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}
