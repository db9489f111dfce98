import type { Socket } from 'node:net';

export { memoryMessage } from '../../../helpers/memory-message.js';

export { fakeServer, type FakeServer } from '../../../helpers/fake-engine.js';

export interface Instream {
  command: string;
  /** Chunk lengths as framed by the client. */
  frames: number[];
  data: Buffer;
  terminated: boolean;
}

/**
 * Decodes a zINSTREAM upload from the socket until the zero-length chunk, or until
 * `stopAfter` bytes of data arrived. Calls `done` once with what it decoded.
 */
export function readInstream(socket: Socket, done: (upload: Instream) => void, stopAfter = Infinity): void {
  let buffered = Buffer.alloc(0);
  const upload: Instream = { command: '', frames: [], data: Buffer.alloc(0), terminated: false };
  const parts: Buffer[] = [];
  let received = 0;
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    socket.off('data', onData);
    upload.data = Buffer.concat(parts);
    done(upload);
  };
  const onData = (chunk: Buffer): void => {
    buffered = Buffer.concat([buffered, chunk]);
    if (upload.command === '') {
      const nul = buffered.indexOf(0);
      if (nul === -1) return;
      upload.command = buffered.subarray(0, nul).toString();
      buffered = buffered.subarray(nul + 1);
    }
    while (buffered.length >= 4) {
      const length = buffered.readUInt32BE(0);
      if (length === 0) {
        upload.terminated = true;
        return finish();
      }
      if (buffered.length < 4 + length) return;
      upload.frames.push(length);
      parts.push(buffered.subarray(4, 4 + length));
      received += length;
      buffered = buffered.subarray(4 + length);
      if (received >= stopAfter) return finish();
    }
  };
  socket.on('data', onData);
}
