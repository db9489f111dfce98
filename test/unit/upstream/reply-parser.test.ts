import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UpstreamProtocolError } from '../../../src/errors.js';
import { REPLY_LIMITS, ReplyParser, toSmtpReply, type RawReply } from '../../../src/upstream/reply-parser.js';

const parseAll = (...chunks: (string | Buffer)[]): RawReply[] => {
  const parser = new ReplyParser();
  return chunks.flatMap((chunk) => parser.push(Buffer.from(chunk)));
};

describe('ReplyParser', () => {
  test('a single-line reply', () => {
    assert.deepEqual(parseAll('250 2.1.0 Ok\r\n'), [{ code: 250, lines: ['2.1.0 Ok'] }]);
  });

  test('a multi-line EHLO reply', () => {
    assert.deepEqual(parseAll('250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n'), [
      { code: 250, lines: ['mx.example.org', 'PIPELINING', 'SIZE 10240000', '8BITMIME'] },
    ]);
  });

  test('a last line that is only the code, and smtp-sink\'s empty last line', () => {
    assert.deepEqual(parseAll('250-first\r\n250\r\n', '250-sink\r\n250 \r\n'), [
      { code: 250, lines: ['first', ''] },
      { code: 250, lines: ['sink', ''] },
    ]);
  });

  test('a reply split at every byte, and several replies in one chunk', () => {
    const wire = '250-one\r\n250 two\r\n354 go ahead\r\n221 2.0.0 Bye\r\n';
    const expected = [
      { code: 250, lines: ['one', 'two'] },
      { code: 354, lines: ['go ahead'] },
      { code: 221, lines: ['2.0.0 Bye'] },
    ];
    assert.deepEqual(parseAll(...wire.split('')), expected);
    assert.deepEqual(parseAll(wire), expected);
    for (let cut = 1; cut < wire.length; cut++) assert.deepEqual(parseAll(wire.slice(0, cut), wire.slice(cut)), expected, `cut at ${cut}`);
  });

  test('LF-only line ends are accepted and CR is stripped', () => {
    assert.deepEqual(parseAll('250-a\n250 b\r\n'), [{ code: 250, lines: ['a', 'b'] }]);
  });

  test('UTF-8 split across chunks is decoded whole', () => {
    const bytes = Buffer.from('550 5.1.1 Empfänger unbekannt\r\n');
    const cut = bytes.indexOf(0xc3) + 1;
    assert.deepEqual(parseAll(bytes.subarray(0, cut), bytes.subarray(cut)), [{ code: 550, lines: ['5.1.1 Empfänger unbekannt'] }]);
  });

  test('buffered tells whether a reply is unfinished', () => {
    const parser = new ReplyParser();
    assert.equal(parser.buffered, false);
    parser.push(Buffer.from('250-a\r\n'));
    assert.equal(parser.buffered, true);
    parser.push(Buffer.from('250 b\r\n22'));
    assert.equal(parser.buffered, true);
    parser.push(Buffer.from('0 go\r\n'));
    assert.equal(parser.buffered, false);
  });

  for (const [name, wire] of [
    ['a non-digit code', '2x0 hello\r\n'],
    ['a short code', '25 hello\r\n'],
    ['a missing separator', '250hello\r\n'],
    ['a tab as separator', '250\thello\r\n'],
    ['a code out of range', '650 hello\r\n'],
    ['an empty line', '\r\n'],
    ['a code changing mid reply', '250-a\r\n251 b\r\n'],
  ] as const) {
    test(`rejects ${name}`, () => {
      assert.throws(() => parseAll(wire), UpstreamProtocolError);
    });
  }

  test('rejects a line over the limit, even before its end arrives', () => {
    const long = `250 ${'x'.repeat(REPLY_LIMITS.lineBytes)}`;
    assert.throws(() => parseAll(`${long}\r\n`), UpstreamProtocolError);
    const parser = new ReplyParser();
    assert.throws(() => {
      for (let i = 0; i < 10; i++) parser.push(Buffer.from('x'.repeat(1000)));
    }, /exceeds 4096 bytes/);
  });

  test('a line exactly at the limit, with its CR in another chunk, is fine', () => {
    const line = `250 ${'x'.repeat(REPLY_LIMITS.lineBytes - 4)}`;
    assert.equal(parseAll(`${line}\r`, '\n')[0]?.lines[0]?.length, REPLY_LIMITS.lineBytes - 4);
  });

  test('rejects a reply with too many lines or too many bytes', () => {
    const lines = `${'250-x\r\n'.repeat(REPLY_LIMITS.lines)}250 x\r\n`;
    assert.throws(() => parseAll(lines), /exceeds 100 lines/);
    const line = `250-${'x'.repeat(4000)}\r\n`;
    assert.throws(() => parseAll(line.repeat(17)), /exceeds 65536 bytes/);
    assert.equal(parseAll(`${'250-x\r\n'.repeat(REPLY_LIMITS.lines - 1)}250 x\r\n`)[0]?.lines.length, REPLY_LIMITS.lines);
  });
});

describe('toSmtpReply', () => {
  test('splits the enhanced code and joins the lines', () => {
    assert.deepEqual(toSmtpReply({ code: 550, lines: ['5.1.1 <a@b>: Recipient address rejected:', 'User unknown'] }), {
      code: 550,
      enhanced: '5.1.1',
      text: '<a@b>: Recipient address rejected: User unknown',
    });
  });
});
