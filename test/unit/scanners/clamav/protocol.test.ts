import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  INSTREAM,
  INSTREAM_END,
  PING,
  VERSION,
  chunkHeader,
  isPong,
  parseScanReply,
  parseVersion,
  takeReply,
} from '../../../../scanners/clamav/protocol.js';

/** A reply captured from clamd 1.4.6 (see fixtures/captured/README.md). */
const captured = (name: string): Buffer => readFileSync(new URL(`../../../../fixtures/captured/clamd/${name}`, import.meta.url));
const reply = (name: string): string => {
  const text = takeReply(captured(name));
  assert.notEqual(text, undefined, `${name} holds a NUL-terminated reply`);
  return text as string;
};

describe('clamd protocol: captured replies', () => {
  test('stream: OK is clean', () => {
    assert.deepEqual(parseScanReply(reply('ok.bin')), { kind: 'clean' });
  });

  test('an empty stream (terminator only) is clean', () => {
    assert.deepEqual(parseScanReply(reply('empty.bin')), { kind: 'clean' });
  });

  test('FOUND is infected with the signature name', () => {
    assert.deepEqual(parseScanReply(reply('found.bin')), { kind: 'infected', signature: 'Eicar-Test-Signature.UNOFFICIAL' });
  });

  test('the StreamMaxLength reply is too-large', () => {
    const verdict = parseScanReply(reply('size-limit.bin'));
    assert.equal(verdict.kind === 'error' && verdict.error, 'too-large');
  });

  test('UNKNOWN COMMAND is a protocol error naming the reply', () => {
    const verdict = parseScanReply(reply('unknown-command.bin'));
    assert.ok(verdict.kind === 'error' && verdict.error === 'protocol' && verdict.detail.includes('UNKNOWN COMMAND'));
  });

  test('PONG', () => {
    assert.equal(isPong(reply('pong.bin')), true);
    assert.equal(isPong(reply('ok.bin')), false);
  });

  test('VERSION without an official database', () => {
    assert.equal(parseVersion(reply('version.bin')), 'ClamAV 1.4.6');
  });
});

describe('clamd protocol: other replies', () => {
  test('VERSION with an official database keeps the database version and date', () => {
    assert.equal(parseVersion('ClamAV 1.4.6/27422/Tue Oct  8 08:35:55 2024'), 'ClamAV 1.4.6/27422/Tue Oct  8 08:35:55 2024');
    assert.equal(parseVersion('UNKNOWN COMMAND'), undefined);
  });

  test('other ERROR replies are protocol errors with clamd\'s text', () => {
    assert.deepEqual(parseScanReply("stream: Can't allocate memory ERROR"), {
      kind: 'error',
      error: 'protocol',
      detail: "clamd: stream: Can't allocate memory",
    });
  });

  for (const garbage of ['', 'stream: ', 'stream: FOUND', 'OK', 'stream: OK extra', 'HTTP/1.1 400 Bad Request']) {
    test(`garbage ${JSON.stringify(garbage)} is a protocol error`, () => {
      const verdict = parseScanReply(garbage);
      assert.equal(verdict.kind === 'error' && verdict.error, 'protocol', JSON.stringify(verdict));
    });
  }

  test('takeReply waits for the NUL and stops at the first one', () => {
    assert.equal(takeReply(Buffer.from('stream: O')), undefined);
    assert.equal(takeReply(Buffer.from('PONG\0stream: OK\0')), 'PONG');
  });

  test('control characters in a reply become spaces', () => {
    assert.equal(takeReply(Buffer.from('stream: Evil\r\nX-Header: 1 FOUND\0')), 'stream: Evil X-Header: 1 FOUND');
  });

  test('commands use the NUL-terminated z form', () => {
    assert.equal(INSTREAM.toString(), 'zINSTREAM\0');
    assert.equal(PING.toString(), 'zPING\0');
    assert.equal(VERSION.toString(), 'zVERSION\0');
  });

  test('chunk lengths are 4-byte big-endian; the terminator is a zero length', () => {
    assert.deepEqual([...chunkHeader(65_536)], [0, 1, 0, 0]);
    assert.deepEqual([...chunkHeader(0x01020304)], [1, 2, 3, 4]);
    assert.deepEqual([...INSTREAM_END], [0, 0, 0, 0]);
  });
});
