import { Readable } from 'node:stream';
import type { SpooledMessage } from '../../src/spool/message.js';

/** A SpooledMessage over a Buffer; `piece` cuts each stream into chunks of that many bytes. */
export function memoryMessage(bytes: Buffer | string, piece = 64 * 1024): SpooledMessage {
  const data = Buffer.from(bytes);
  return {
    size: data.length,
    createReadStream({ start = 0, end = data.length } = {}) {
      const parts: Buffer[] = [];
      for (let at = start; at < end; at += piece) parts.push(data.subarray(at, Math.min(at + piece, end)));
      return Readable.from(parts);
    },
  };
}
