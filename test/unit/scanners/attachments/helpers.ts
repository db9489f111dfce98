import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { SpooledMessage } from '../../../../src/spool/message.js';
import { attachmentsOptions, scanAttachments } from '../../../../scanners/attachments/index.js';
import { compileRules } from '../../../../scanners/attachments/rules.js';
import type { Verdict } from '../../../../src/scan/verdict.js';

/** A spooled message over a buffer; `streams` records every reader handed out. */
export function spooled(bytes: Buffer, chunkSize = 64 * 1024): SpooledMessage & { readonly streams: Readable[] } {
  const streams: Readable[] = [];
  return {
    size: bytes.length,
    streams,
    createReadStream({ start = 0, end = bytes.length } = {}) {
      const chunks: Buffer[] = [];
      for (let at = start; at < end; at += chunkSize) chunks.push(bytes.subarray(at, Math.min(at + chunkSize, end)));
      const stream = Readable.from(chunks);
      streams.push(stream);
      return stream;
    },
  };
}

export function fixture(name: string): Promise<Buffer> {
  return readFile(new URL(`../../../../fixtures/attachment-${name}.eml`, import.meta.url));
}

export const defaultRules = compileRules(attachmentsOptions.parse({}));

export function scan(bytes: Buffer, signal = new AbortController().signal): Promise<Verdict> {
  return scanAttachments(spooled(bytes), signal, defaultRules);
}

/** A message from header/body pairs, each one part of a multipart/mixed; CRLF throughout. */
export function mixed(...parts: string[]): Buffer {
  const lines = ['From: a@example.org', 'Subject: t', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b"', ''];
  for (const part of parts) lines.push('--b', part);
  lines.push('--b--', '');
  return Buffer.from(lines.join('\r\n').replace(/\r?\n/g, '\r\n'), 'latin1');
}

/**
 * A message whose one part carries `size` bytes as base64 lines of 76 characters, in a single
 * allocation: freed temporaries would let the scan reuse their memory and hide its growth.
 */
export function bigMessage(size: number, partHeaders = 'Content-Type: application/pdf; name="big.pdf"'): Buffer {
  const head = Buffer.from(`Subject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n${partHeaders}\r\nContent-Transfer-Encoding: base64\r\n\r\n`);
  const tail = Buffer.from('\r\n--b--\r\n');
  // 57 KiB encode to exactly 1024 lines of 76 characters
  const block = Buffer.from(Buffer.alloc(57 * 1024, 'quite harmless ').toString('base64').replace(/.{76}/g, '$&\r\n'));
  const blocks = Math.ceil(size / (57 * 1024));
  const out = Buffer.allocUnsafe(head.length + blocks * block.length + tail.length);
  let at = head.copy(out);
  for (let i = 0; i < blocks; i++) at += block.copy(out, at);
  tail.copy(out, at);
  return out;
}
