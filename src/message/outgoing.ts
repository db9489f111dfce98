import { Readable } from 'node:stream';
import { MessageRejectedError } from '../errors.js';
import type { HeaderEdits } from '../policy/decision.js';
import type { SpooledMessage } from '../spool/message.js';
import { editHeaderBlock, headerBlockEnd } from './header-block.js';

/** Header sections beyond this are refused (Exchange refuses at 256 KB, Postfix truncates at 100 KB). */
export const MAX_HEADER_SIZE = 1024 * 1024;

const headerTooLarge = { code: 552, enhanced: '5.3.4', text: 'Message header section exceeds fixed maximum size' } as const;

/**
 * Bytes on their way upstream and how many there are, known before the first is read: BDAT
 * names its size up front (pieces of known length: header buffers and a spool range).
 */
export interface SizedMessage {
  readonly stream: Readable;
  readonly size: number;
}

/**
 * The message as it goes to the upstream: the edited header block, then the rest of the spool
 * streamed as it is, so the body stays byte-identical and is never copied into memory. The
 * names of the sender's fields that were removed go into `removed` (for the message's log line).
 */
export async function outgoingMessage(message: SpooledMessage, edits: HeaderEdits, removed?: Set<string>): Promise<SizedMessage> {
  const whole = (): SizedMessage => ({ stream: message.createReadStream(), size: message.size });
  if (edits.add.length === 0 && edits.remove.length === 0) return whole();
  const head = await readHead(message, Math.min(message.size, MAX_HEADER_SIZE + 4));
  let end = headerBlockEnd(head);
  if (end === undefined) {
    if (message.size > MAX_HEADER_SIZE) throw new MessageRejectedError('SSP_ERR_HEADER_TOO_LARGE', 'header section too large', headerTooLarge);
    end = message.size;
  }
  const block = head.subarray(0, end);
  const header = editHeaderBlock(block, edits, removed);
  // Nothing to remove was there (the usual case; at most a last line got its CRLF): the bytes as they came.
  if (edits.add.length === 0 && header.subarray(0, block.length).equals(block)) return whole();
  // A message that was all header gets the blank line that separates it from an empty body.
  const prefix = end === message.size ? [header, Buffer.from('\r\n')] : [header];
  const size = prefix.reduce((total, buffer) => total + buffer.length, message.size - end);
  return { stream: Readable.from(concatStreams(prefix, message, end)), size };
}

async function* concatStreams(prefix: Buffer[], message: SpooledMessage, offset: number): AsyncGenerator<Buffer> {
  yield* prefix;
  if (offset < message.size) yield* message.createReadStream({ start: offset }) as AsyncIterable<Buffer>;
}

async function readHead(message: SpooledMessage, length: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of message.createReadStream({ end: length }) as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}
