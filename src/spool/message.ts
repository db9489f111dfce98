import type { Readable } from 'node:stream';

/**
 * A message received from a client, stored once. Its bytes are the message as the client
 * meant it: CRLF line endings (bare CR/LF normalized), dots already unstuffed.
 */
export interface SpooledMessage {
  /** Size in bytes of the stored message. */
  readonly size: number;
  /**
   * A fresh stream over the stored bytes [start, end) for each call: consumers never share
   * one stream. `end` is exclusive and defaults to the size.
   */
  createReadStream(range?: { start?: number; end?: number }): Readable;
}
