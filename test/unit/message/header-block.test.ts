import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { editHeaderBlock, headerBlockEnd } from '../../../src/message/header-block.js';

const edit = (block: string, remove: string[], add: [string, string][] = []) =>
  editHeaderBlock(Buffer.from(block), { remove, add }).toString();

describe('editHeaderBlock', () => {
  test('adds fields on top and keeps the others byte for byte', () => {
    assert.equal(edit('From: a\r\nSubject:  x \r\n', [], [['X-A', '1']]), 'X-A: 1\r\nFrom: a\r\nSubject:  x \r\n');
  });

  test('removes every occurrence of a field, case-insensitively, with its folded lines', () => {
    const block = 'X-Spam-Flag: YES\r\nFrom: a\r\nx-spam-status: Yes,\r\n\tscore=99\r\nSubject: s\r\nX-SPAM-FLAG:YES\r\n';
    assert.equal(edit(block, ['X-Spam-Flag', 'X-Spam-Status']), 'From: a\r\nSubject: s\r\n');
  });

  test('a field name with spaces before the colon is still matched', () => {
    assert.equal(edit('X-Spam-Flag : YES\r\nFrom: a\r\n', ['x-spam-flag']), 'From: a\r\n');
  });

  test('a last line without CRLF gets one', () => {
    assert.equal(edit('From: a', [], [['X', 'y']]), 'X: y\r\nFrom: a\r\n');
  });
});

describe('headerBlockEnd', () => {
  const cases: [string, number | undefined][] = [
    ['A: b\r\n\r\nbody', 6],
    ['\r\nbody', 0],
    ['A: b\r\nC: d\r\n', undefined],
    ['A: b\r\n\r\n', 6],
  ];
  for (const [head, expected] of cases) {
    test(JSON.stringify(head), () => assert.equal(headerBlockEnd(Buffer.from(head)), expected));
  }
});
