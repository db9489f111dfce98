import { clean, scanError, type Verdict } from '../../src/scan/verdict.js';

/*
 * clamd's "z" command forms: the command and every reply end with a NUL byte, so a reply can
 * be read without knowing its length and a newline inside it cannot split it.
 */
export const PING = Buffer.from('zPING\0');
export const VERSION = Buffer.from('zVERSION\0');
export const INSTREAM = Buffer.from('zINSTREAM\0');
/** A zero-length chunk tells clamd the stream is complete. */
export const INSTREAM_END = Buffer.alloc(4);

/** Every real reply is a line; anything this long is not clamd talking. */
export const MAX_REPLY = 8 * 1024;

/** The 4-byte big-endian length that precedes each INSTREAM chunk. */
export function chunkHeader(length: number): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(length);
  return header;
}

/** The first NUL-terminated reply in `received`, or undefined while it is still incomplete. */
export function takeReply(received: Buffer): string | undefined {
  const end = received.indexOf(0);
  return end === -1 ? undefined : printable(received.subarray(0, end).toString('utf8'));
}

const FOUND = /^stream: (.+) FOUND$/;
const ERROR = /^(.+) ERROR$/;

/** Maps an INSTREAM reply to a verdict; it never throws. */
export function parseScanReply(reply: string): Verdict {
  if (reply === 'stream: OK') return clean;
  const found = FOUND.exec(reply);
  if (found?.[1]) return { kind: 'infected', signature: found[1] };
  // clamd stops reading and closes when the stream passes its StreamMaxLength.
  if (reply === 'INSTREAM size limit exceeded. ERROR') {
    return scanError('too-large', 'clamd: INSTREAM size limit exceeded (StreamMaxLength)');
  }
  const error = ERROR.exec(reply);
  if (error) return scanError('protocol', `clamd: ${error[1]}`);
  return scanError('protocol', `clamd: unexpected reply ${JSON.stringify(reply)}`);
}

export function isPong(reply: string): boolean {
  return reply === 'PONG';
}

/**
 * "ClamAV 1.4.6/27422/Tue Oct  8 08:35:55 2024" with an official database; just
 * "ClamAV 1.4.6" when only private signatures are loaded.
 */
export function parseVersion(reply: string): string | undefined {
  return /^ClamAV \d/.test(reply) ? reply : undefined;
}

/** Replies end up in logs and headers: control characters never should. */
function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
}
