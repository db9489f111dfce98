import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { MessageRejectedError } from '../../../src/errors.js';
import { MAX_HEADER_SIZE, outgoingMessage, type SizedMessage } from '../../../src/message/outgoing.js';
import type { HeaderEdits } from '../../../src/policy/decision.js';
import type { SpooledMessage } from '../../../src/spool/message.js';

/** A spool held in memory that serves ranges in chunks that cut across lines, as a file stream would. */
function spooled(content: string | Buffer): SpooledMessage & { reads: number } {
  const bytes = Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8');
  return {
    size: bytes.length,
    reads: 0,
    createReadStream(range = {}) {
      this.reads++;
      const slice = bytes.subarray(range.start ?? 0, range.end ?? bytes.length);
      const chunks: Buffer[] = [];
      const size = Math.max(7, Math.ceil(slice.length / 64));
      for (let at = 0; at < slice.length; at += size) chunks.push(slice.subarray(at, at + size));
      return Readable.from(chunks);
    },
  };
}

/** The bytes, checked against the size announced before them (what BDAT sends as its size). */
async function bytesOf({ stream, size }: SizedMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  const bytes = Buffer.concat(chunks);
  assert.equal(size, bytes.length, 'the announced size is the size of the bytes');
  return bytes;
}

const NO_EDITS: HeaderEdits = { remove: [], add: [] };
const SCANNED: HeaderEdits = {
  remove: ['X-Spam-Flag', 'X-Spam-Status'],
  add: [
    ['X-Virus-Scanned', 'clamav'],
    ['X-Spam-Status', 'No, score=1.2'],
  ],
};

const MESSAGE =
  'Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\r\n' +
  'X-Spam-Status: Yes, score=99\r\n' +
  '\ttests=FORGED\r\n' +
  ' more=folded\r\n' +
  'From: alice@example.org\r\n' +
  'x-spam-flag: YES\r\n' +
  'Subject: hi\r\n' +
  '\r\n' +
  'Body line 1\r\n' +
  'X-Spam-Flag: in the body, not a header\r\n' +
  '\r\n' +
  '.. dot line and trailing spaces   \r\n';

const BODY = MESSAGE.slice(MESSAGE.indexOf('\r\n\r\n') + 4);

describe('outgoingMessage', () => {
  test('no edits: exactly the spooled bytes', async () => {
    const out = await bytesOf(await outgoingMessage(spooled(MESSAGE), NO_EDITS));
    assert.equal(out.toString(), MESSAGE);
  });

  test('edits: added fields on top, removed ones gone with their folded lines, the rest untouched', async () => {
    const out = (await bytesOf(await outgoingMessage(spooled(MESSAGE), SCANNED))).toString();
    assert.equal(
      out,
      'X-Virus-Scanned: clamav\r\n' +
        'X-Spam-Status: No, score=1.2\r\n' +
        'Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\r\n' +
        'From: alice@example.org\r\n' +
        'Subject: hi\r\n' +
        '\r\n' +
        BODY,
    );
  });

  test('removals that match nothing (forged headers are removed from every message): the bytes as they came', async () => {
    for (const message of [MESSAGE.replace(/x-spam-flag: YES\r\n|X-Spam-Status: .*\r\n\t.*\r\n .*\r\n/gi, ''), 'Subject: all header, no CRLF']) {
      const out = await bytesOf(await outgoingMessage(spooled(message), { remove: ['X-Spam-*', 'X-MS-Exchange-*-AntiSpam-*'], add: [] }));
      assert.equal(out.toString(), message);
    }
  });

  test('a prefix ("X-Spam-*") removes every field that starts with it, wherever it is', async () => {
    const out = await bytesOf(await outgoingMessage(spooled(MESSAGE), { remove: ['X-Spam-*'], add: [] }));
    assert.equal(out.toString(), MESSAGE.replace(/X-Spam-Status: .*\r\n\t.*\r\n .*\r\n/, '').replace('x-spam-flag: YES\r\n', ''));
  });

  test('the body is byte-identical, binary bytes included', async () => {
    const body = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 256));
    const message = Buffer.concat([Buffer.from('Subject: bin\r\nX-Spam-Flag: YES\r\n\r\n'), body]);
    const out = await bytesOf(await outgoingMessage(spooled(message), SCANNED));
    const split = out.indexOf('\r\n\r\n') + 4;
    assert.equal(out.subarray(0, split).toString(), 'X-Virus-Scanned: clamav\r\nX-Spam-Status: No, score=1.2\r\nSubject: bin\r\n\r\n');
    assert.ok(out.subarray(split).equals(body));
  });

  test('a message that is all header (no blank line) gets one before its empty body', async () => {
    const out = await bytesOf(await outgoingMessage(spooled('Subject: x\r\nX-Spam-Flag: YES\r\n'), SCANNED));
    assert.equal(out.toString(), 'X-Virus-Scanned: clamav\r\nX-Spam-Status: No, score=1.2\r\nSubject: x\r\n\r\n');
  });

  test('all header and no final CRLF: the last line is ended before the blank line', async () => {
    const out = await bytesOf(await outgoingMessage(spooled('Subject: x'), { remove: [], add: [['X-A', '1']] }));
    assert.equal(out.toString(), 'X-A: 1\r\nSubject: x\r\n\r\n');
  });

  test('a message that starts with the blank line (no header) gets the added fields only', async () => {
    const out = await bytesOf(await outgoingMessage(spooled('\r\nbody\r\n'), SCANNED));
    assert.equal(out.toString(), 'X-Virus-Scanned: clamav\r\nX-Spam-Status: No, score=1.2\r\n\r\nbody\r\n');
  });

  test('every read gets a fresh stream: the outgoing message can be built twice', async () => {
    const message = spooled(MESSAGE);
    const first = await bytesOf(await outgoingMessage(message, SCANNED));
    const second = await bytesOf(await outgoingMessage(message, SCANNED));
    assert.ok(first.equals(second));
    assert.ok(message.reads >= 4);
  });

  test('a header section over 1 MiB with edits is refused with 552 5.3.4', async () => {
    const line = `X-Filler: ${'a'.repeat(990)}\r\n`;
    const header = line.repeat(Math.ceil((MAX_HEADER_SIZE + 10) / line.length));
    const message = spooled(`${header}\r\nbody\r\n`);
    await assert.rejects(outgoingMessage(message, SCANNED), (error: unknown) => {
      assert.ok(error instanceof MessageRejectedError);
      assert.equal(error.code, 'SSP_ERR_HEADER_TOO_LARGE');
      assert.equal(error.reply.code, 552);
      assert.equal(error.reply.enhanced, '5.3.4');
      return true;
    });
  });

  test('the same large header without edits is relayed as it is (nothing needs reading)', async () => {
    const line = `X-Filler: ${'a'.repeat(990)}\r\n`;
    const message = `${line.repeat(1100)}\r\nbody\r\n`;
    const out = await bytesOf(await outgoingMessage(spooled(message), NO_EDITS));
    assert.equal(out.length, Buffer.byteLength(message));
  });

  test('a header just under 1 MiB with edits is fine', async () => {
    const line = `X-Filler: ${'a'.repeat(990)}\r\n`;
    const header = line.repeat(Math.floor((MAX_HEADER_SIZE - 100) / line.length));
    const out = await bytesOf(await outgoingMessage(spooled(`${header}\r\nbody\r\n`), { remove: ['X-Filler'], add: [] }));
    assert.equal(out.toString(), '\r\nbody\r\n');
  });
});
