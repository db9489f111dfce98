import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { COMMAND_LINE_LIMIT } from '../../../src/upstream/attribute-lines.js';
import { xforwardCommands } from '../../../src/upstream/xforward.js';

describe('xforwardCommands', () => {
  const POSTFIX = ['NAME', 'ADDR', 'PROTO', 'HELO', 'SOURCE', 'PORT', 'IDENT'];

  test('offered attributes only, names as offered in any case, values xtext-encoded, in one line', () => {
    assert.deepEqual(
      xforwardCommands({ NAME: 'mail.example.net', ADDR: '192.0.2.1', PORT: '4711', DESTADDR: '10.0.0.1', HELO: 'a b=c' }, ['name', 'ADDR', 'port', 'HELO']),
      ['XFORWARD NAME=mail.example.net ADDR=192.0.2.1 PORT=4711 HELO=a+20b+3Dc'],
    );
  });

  test('nothing offered, nothing sent', () => {
    assert.deepEqual(xforwardCommands({ ADDR: '192.0.2.1' }, []), []);
  });

  test('long values spread over lines of at most 512 bytes with CRLF; one too long for any line is [UNAVAILABLE]', () => {
    const lines = xforwardCommands(
      { NAME: `${'n'.repeat(60)}.example.org`, ADDR: '192.0.2.1', HELO: 'h'.repeat(255), IDENT: 'i'.repeat(250), SOURCE: 'REMOTE', PROTO: '\u00e9'.repeat(200) },
      POSTFIX,
    );
    assert.ok(lines.length > 1);
    for (const line of lines) assert.ok(line.length + 2 <= COMMAND_LINE_LIMIT, `${line.length}`);
    const items = lines.flatMap((line) => line.split(' ').slice(1));
    assert.deepEqual(items.map((item) => item.split('=')[0]), ['NAME', 'ADDR', 'HELO', 'IDENT', 'SOURCE', 'PROTO'], 'each attribute once, in order');
    assert.ok(items.includes('PROTO=[UNAVAILABLE]'), '600 bytes of xtext fit no line');
  });
});
