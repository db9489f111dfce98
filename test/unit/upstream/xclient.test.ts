import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { COMMAND_LINE_LIMIT } from '../../../src/upstream/attribute-lines.js';
import { xclientCommands } from '../../../src/upstream/xclient.js';

describe('xclientCommands', () => {
  const POSTFIX = new Set(['NAME', 'ADDR', 'PROTO', 'HELO', 'REVERSE_NAME', 'PORT', 'LOGIN', 'DESTADDR', 'DESTPORT']);

  test('only offered attributes, undefined skipped, names uppercased, in the caller\'s order but NAME and ADDR last', () => {
    assert.deepEqual(
      xclientCommands({ addr: '192.0.2.1', NAME: '[UNAVAILABLE]', IDENT: 'x', LOGIN: undefined, HELO: 'a b', PORT: '25' }, POSTFIX),
      ['XCLIENT HELO=a+20b PORT=25 ADDR=192.0.2.1 NAME=[UNAVAILABLE]'],
    );
  });

  test('NAME and ADDR always travel together in the last line: Postfix authorizes each XCLIENT by them', () => {
    const name = `${'n'.repeat(60)}.example.org`;
    const lines = xclientCommands({ NAME: name, ADDR: '192.0.2.1', HELO: 'h'.repeat(255), REVERSE_NAME: 'r'.repeat(200) }, POSTFIX);
    assert.equal(lines.length, 2);
    assert.equal(lines.at(-1), `XCLIENT NAME=${name} ADDR=192.0.2.1`);
    assert.ok(!lines[0]!.includes('NAME=n') && !lines[0]!.includes('ADDR='));
  });

  test('nothing to send gives no line', () => {
    assert.deepEqual(xclientCommands({ NAME: undefined }, POSTFIX), []);
    assert.deepEqual(xclientCommands({ NAME: 'x' }, new Set()), []);
  });

  test('long values are spread over several lines of at most 512 bytes with CRLF', () => {
    const name = `${'a'.repeat(60)}.example`.repeat(3);
    const helo = 'h'.repeat(300);
    const lines = xclientCommands({ NAME: name, ADDR: '192.0.2.1', PORT: '25', HELO: helo, LOGIN: 'l'.repeat(200) }, POSTFIX);
    assert.ok(lines.length > 1);
    for (const line of lines) {
      assert.ok(line.length + 2 <= COMMAND_LINE_LIMIT, `${line.length}`);
      assert.match(line, /^XCLIENT( [A-Z_]+=\S+)+$/);
    }
    assert.equal(lines.join(' ').replace(/XCLIENT /g, '').split(' ').length, 5, 'every attribute sent once');
  });

  test('a value that cannot fit a line of its own becomes [UNAVAILABLE]', () => {
    assert.deepEqual(xclientCommands({ ADDR: '192.0.2.1', HELO: '\x01'.repeat(200) }, POSTFIX), ['XCLIENT HELO=[UNAVAILABLE] ADDR=192.0.2.1']);
    const fits = 'h'.repeat(COMMAND_LINE_LIMIT - 'XCLIENT HELO=\r\n'.length);
    assert.deepEqual(xclientCommands({ HELO: fits }, POSTFIX), [`XCLIENT HELO=${fits}`]);
  });
});
