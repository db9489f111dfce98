import type { Socket } from 'node:net';
import { fakeServer as engine, type FakeServer } from '../../../helpers/fake-engine.js';

export { memoryMessage } from '../../../helpers/memory-message.js';

export type { FakeServer };

/** A fake engine that, like spamd, keeps its side open after the client's half-close. */
export function fakeServer(handle: (socket: Socket) => void, path?: string): Promise<FakeServer> {
  return engine(handle, path, { allowHalfOpen: true });
}

export interface SpamcRequest {
  /** The request line, e.g. "SYMBOLS SPAMC/1.5". */
  line: string;
  /** Header lines as sent. */
  headers: string[];
  body: Buffer;
  /** Whether the client half-closed (as spamc does) right after the body. */
  ended: boolean;
}

/**
 * Reads one spamc request: the head, then Content-length bytes of body. Calls `done` when the
 * body is complete and the client has half-closed, or when the client closes early.
 */
export function readRequest(socket: Socket, done: (request: SpamcRequest) => void): void {
  let received = Buffer.alloc(0);
  let finished = false;
  const finish = (ended: boolean): void => {
    if (finished) return;
    finished = true;
    const headEnd = received.indexOf('\r\n\r\n');
    const [line = '', ...headers] = received.subarray(0, headEnd === -1 ? received.length : headEnd).toString('latin1').split('\r\n');
    done({ line, headers, body: headEnd === -1 ? Buffer.alloc(0) : received.subarray(headEnd + 4), ended });
  };
  socket.on('data', (data: Buffer) => (received = Buffer.concat([received, data])));
  socket.on('end', () => finish(true));
  socket.on('close', () => finish(false));
}
