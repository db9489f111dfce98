import { isAscii } from 'node:buffer';
import type { Readable } from 'node:stream';
import { RelaxedBodyHash } from './relaxed-body-hash.js';

export interface MessageDigest {
  /** The header block as it was streamed, each field with its CRLF, without the blank line. */
  readonly header: Buffer;
  /** Relaxed SHA-256 hash of the body (base64), the bh= of every signature. */
  readonly bodyHash: string;
  /** A byte over 127 anywhere: the message needs 8BITMIME (or SMTPUTF8) all the way. */
  readonly eightBit: boolean;
}

const BLANK_LINE = Buffer.from('\r\n\r\n');

/**
 * Reads a message once, as it will be sent, keeping only its header block: the body is hashed
 * chunk by chunk and never held. Undefined, and the rest left unread, when `wanted` says no to
 * the header block, or when that is longer than `maxHeader`.
 */
export async function digestMessage(message: Readable, maxHeader: number, wanted: (header: Buffer) => boolean): Promise<MessageDigest | undefined> {
  const hasher = new RelaxedBodyHash();
  let head: Buffer | undefined = Buffer.alloc(0);
  let header = head;
  let eightBit = false;
  for await (const chunk of message as AsyncIterable<Buffer>) {
    eightBit ||= !isAscii(chunk);
    if (!head) {
      hasher.update(chunk);
      continue;
    }
    head = Buffer.concat([head, chunk]);
    const end = head[0] === 0x0d && head[1] === 0x0a ? -2 : head.indexOf(BLANK_LINE);
    if (end === -1) {
      if (head.length > maxHeader) {
        message.destroy();
        return undefined;
      }
      continue;
    }
    header = head.subarray(0, end + 2);
    if (!wanted(header)) {
      message.destroy();
      return undefined;
    }
    hasher.update(head.subarray(end + 4));
    head = undefined;
  }
  // A message that is all header: an empty body.
  if (head) {
    header = head;
    if (!wanted(header)) return undefined;
  }
  return { header, bodyHash: hasher.digest(), eightBit };
}
