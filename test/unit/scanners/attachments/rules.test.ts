import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileRules, DEFAULT_BANNED, DEFAULT_BANNED_TYPES, extensionsOf, forReply, judge, judgePart } from '../../../../scanners/attachments/rules.js';

const rules = compileRules({ banned: DEFAULT_BANNED, bannedTypes: DEFAULT_BANNED_TYPES, doubleExtensions: true });
const octet = 'application/octet-stream';

describe('attachments rules: judge(name, type)', () => {
  const table: [name: string | undefined, type: string, expected: string | undefined][] = [
    ['report.pdf', 'application/pdf', undefined],
    ['setup.exe', octet, 'banned attachment type: setup.exe'],
    ['SETUP.EXE', octet, 'banned attachment type: SETUP.EXE'],
    ['Setup.Exe', octet, 'banned attachment type: Setup.Exe'],
    ['.exe', octet, 'banned attachment type: .exe'],
    ['exe', octet, undefined],
    ['setup.exe.', octet, 'banned attachment type: setup.exe.'],
    ['setup.exe . .  ', octet, 'banned attachment type: setup.exe . .  '],
    ['setup.exe\u200b', octet, 'banned attachment type: setup.exe?'],
    ['C:\\Users\\x\\setup.exe', octet, 'banned attachment type: C:\\Users\\x\\setup.exe'],
    ['../run.bat', octet, 'banned attachment type: ../run.bat'],
    ['setup.exe.txt', 'text/plain', undefined],
    ['archive.zip', 'application/zip', undefined],
    ['report.pdf.zip', 'application/zip', undefined],
    ['script.PS1', octet, 'banned attachment type: script.PS1'],
    ['disk.img', octet, 'banned attachment type: disk.img'],
    ['invoice.pdf.exe', octet, 'double extension hides a banned type: invoice.pdf.exe'],
    ['photo.JPG.scr', octet, 'double extension hides a banned type: photo.JPG.scr'],
    ['photo.jpg                    .scr', octet, 'double extension hides a banned type: photo.jpg                    .scr'],
    ['notes.txt.exe', octet, 'double extension hides a banned type: notes.txt.exe'],
    ['backup.2024.exe', octet, 'banned attachment type: backup.2024.exe'],
    ['invoice\u202efdp.exe', octet, 'file name hides its extension: invoice?fdp.exe'],
    ['invoice\u202efdp.txt', 'text/plain', 'file name hides its extension: invoice?fdp.txt'],
    ['a\u2067b.pdf', 'application/pdf', 'file name hides its extension: a?b.pdf'],
    ['setup.exe\u0000.pdf', 'application/pdf', 'file name hides its extension: setup.exe?.pdf'],
    ['holiday.jpg', 'application/x-msdownload', 'banned content type application/x-msdownload: holiday.jpg'],
    ['holiday.jpg', 'Application/X-MSDownload', 'banned content type application/x-msdownload: holiday.jpg'],
    ['README', 'application/x-dosexec', 'banned content type application/x-dosexec: README'],
    [undefined, 'application/hta', 'banned content type: application/hta'],
    [undefined, 'image/png', undefined],
    [undefined, 'text/plain', undefined],
    ['отчёт.exe', octet, 'banned attachment type: ?????.exe'],
  ];
  for (const [name, type, expected] of table) {
    it(`${JSON.stringify(name)} ${type} -> ${expected ?? 'allowed'}`, () => {
      assert.equal(judge(name, type, rules), expected);
    });
  }
});

describe('attachments rules: options', () => {
  it('normalizes configured extensions: case and leading dot', () => {
    const custom = compileRules({ banned: ['.EXE', ' Dll '], bannedTypes: [' Application/X-Foo '], doubleExtensions: true });
    assert.deepEqual([...custom.banned], ['exe', 'dll']);
    assert.equal(judge('lib.DLL', octet, custom), 'banned attachment type: lib.DLL');
    assert.equal(judge(undefined, 'application/x-foo', custom), 'banned content type: application/x-foo');
  });

  it('bans a double extension even when its last extension was allowed', () => {
    const allowJs = compileRules({ banned: ['exe'], bannedTypes: [], doubleExtensions: true });
    assert.equal(judge('tool.js', octet, allowJs), undefined);
    assert.equal(judge('invoice.pdf.js', octet, allowJs), 'double extension hides a banned type: invoice.pdf.js');
  });

  it('doubleExtensions: false leaves only the plain extension rule', () => {
    const plain = compileRules({ banned: ['exe'], bannedTypes: [], doubleExtensions: false });
    assert.equal(judge('invoice.pdf.exe', octet, plain), 'banned attachment type: invoice.pdf.exe');
    assert.equal(judge('invoice.pdf.js', octet, plain), undefined);
  });
});

describe('attachments rules: helpers', () => {
  it('extensionsOf reads extensions as Windows saves the file', () => {
    assert.deepEqual(extensionsOf('Invoice.PDF .EXE. '), ['pdf', 'exe']);
    assert.deepEqual(extensionsOf('dir.d/file'), []);
    assert.deepEqual(extensionsOf('a..b'), ['b']);
  });

  it('forReply keeps printable ASCII and the end of long names', () => {
    assert.equal(forReply('a\r\nb\u202e.exe'), 'a??b?.exe');
    const long = `${'x'.repeat(100)}.pdf.exe`;
    const shown = forReply(long);
    assert.equal(shown.length, 60);
    assert.ok(shown.endsWith('.pdf.exe'));
  });

  it('judgePart bans a part if any reading of it is banned', () => {
    assert.deepEqual(judgePart({ names: ['report.pdf', 'report.exe'], types: [octet], unopened: false }, rules), {
      item: 'report.exe',
      reason: 'banned attachment type: report.exe',
    });
    assert.deepEqual(judgePart({ names: [], types: ['text/plain', 'application/x-msdownload'], unopened: false }, rules), {
      item: 'application/x-msdownload',
      reason: 'banned content type: application/x-msdownload',
    });
    assert.equal(judgePart({ names: ['a.pdf'], types: [], unopened: false }, rules), undefined);
    assert.equal(judgePart({ names: ['a.exe'], types: [], unopened: false }, rules)?.item, 'a.exe');
    assert.deepEqual(judgePart({ names: [], types: ['message/rfc822'], unopened: true }, rules), {
      item: 'message/rfc822',
      reason: 'attached messages nested too deeply: message/rfc822',
    });
  });
});
