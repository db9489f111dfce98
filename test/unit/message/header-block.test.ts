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

  test('"*" in the middle of a name matches any run of characters, and only whole names', () => {
    const block = 'X-MS-Exchange-ExternalHop-AntiSpam-Report: a\r\nX-MS-Exchange-AntiSpam-Relay: 0\r\n'
      + 'X-MS-Exchange-Organization-AntiSpam-X: b\r\nX-MS-Exchange-AntiSpamX: c\r\nX-MS-Exchange-CrossTenant-Id: d\r\n';
    assert.equal(
      edit(block, ['X-MS-Exchange-*-AntiSpam-*']),
      'X-MS-Exchange-AntiSpam-Relay: 0\r\nX-MS-Exchange-AntiSpamX: c\r\nX-MS-Exchange-CrossTenant-Id: d\r\n',
    );
  });

  test('the names of the removed fields are reported as the sender wrote them, each once, a few and short', () => {
    const removed = new Set<string>();
    editHeaderBlock(Buffer.from('X-MS-Exchange-Organization-SCL: -1\r\nx-ms-exchange-organization-scl : -1\r\nFrom: a\r\nX-MS-Exchange-Organization-SCL: -1\r\n'), { remove: ['X-MS-Exchange-Organization-*'], add: [] }, removed);
    assert.deepEqual([...removed], ['X-MS-Exchange-Organization-SCL', 'x-ms-exchange-organization-scl']);
    const many = new Set<string>();
    const block = Array.from({ length: 50 }, (_, i) => `X-Spam-${i}-${'a'.repeat(200)}: x\r\n`).join('');
    assert.equal(edit(block, ['X-Spam-*']), '');
    editHeaderBlock(Buffer.from(block), { remove: ['X-Spam-*'], add: [] }, many);
    assert.equal(many.size, 20);
    assert.ok([...many].every((name) => name.length === 100));
  });

  test('the characters of a name are literal, never a regular expression', () => {
    assert.equal(edit('X-A.B: 1\r\nX-AxB: 2\r\nX-(C): 3\r\n', ['X-A.B', 'X-(C)']), 'X-AxB: 2\r\n');
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
