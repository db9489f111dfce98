import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setMaxListeners } from 'node:events';
import { Readable } from 'node:stream';
import { attachmentsOptions, attachmentsScanner, scanAttachments } from '../../../../scanners/attachments/index.js';
import { MAX_DEPTH } from '../../../../scanners/attachments/walk.js';
import { defaultRules, fixture, mixed, scan, spooled } from './helpers.js';
import { scanSession } from '../../../helpers/scan-session.js';

const exe = 'Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="setup.exe"\r\n\r\nTVqQAAMAAAAEAAAA//8AAA==';

describe('attachments scanner: fixtures', () => {
  const table: [fixture: string, items: string[] | 'clean', reason?: string][] = [
    ['clean-pdf', 'clean'],
    ['exe', ['setup.exe'], 'banned attachment type: setup.exe'],
    ['double-extension', ['invoice.pdf.exe'], 'double extension hides a banned type: invoice.pdf.exe'],
    ['uppercase', ['SETUP.EXE'], 'banned attachment type: SETUP.EXE'],
    ['rfc2231', ['report.exe'], 'banned attachment type: report.exe'],
    ['encoded-word', ['setup.exe'], 'banned attachment type: setup.exe'],
    ['rtlo', ['invoice\u202efdp.exe'], 'file name hides its extension: invoice?fdp.exe'],
    ['content-type', ['holiday.jpg'], 'banned content type application/x-msdownload: holiday.jpg'],
    // decided: attached messages are opened, whatever their disposition and encoding
    ['nested', ['tool.exe'], 'banned attachment type: tool.exe'],
    // a named text part is an attachment to the clients that list it as one
    ['named-text', ['invoice.js'], 'banned attachment type: invoice.js'],
    // decided: an unterminated multipart is read up to the end of the data, not an error
    ['unterminated', 'clean'],
    ['unterminated-exe', ['setup.exe'], 'banned attachment type: setup.exe'],
  ];
  for (const [name, items, reason] of table) {
    it(`attachment-${name}.eml -> ${items === 'clean' ? 'clean' : reason}`, async () => {
      const verdict = await scan(await fixture(name));
      assert.deepEqual(verdict, items === 'clean' ? { kind: 'clean' } : { kind: 'banned', reason, items });
    });
  }
});

describe('attachments scanner: generated messages', () => {
  it('an empty message (0 bytes) is clean', async () => {
    assert.deepEqual(await scan(Buffer.alloc(0)), { kind: 'clean' });
  });

  it('a one-part message is judged by its own headers', async () => {
    const bytes = Buffer.from('Subject: t\r\nContent-Type: application/x-msdownload\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQ\r\n');
    assert.deepEqual(await scan(bytes), {
      kind: 'banned',
      reason: 'banned content type: application/x-msdownload',
      items: ['application/x-msdownload'],
    });
  });

  it('judges every name a part gives, not only the one mailsplit prefers', async () => {
    const bytes = mixed('Content-Type: application/octet-stream; name="report.exe"\r\nContent-Disposition: attachment; filename="report.pdf"\r\n\r\nx');
    assert.deepEqual(await scan(bytes), { kind: 'banned', reason: 'banned attachment type: report.exe', items: ['report.exe'] });
  });

  it('reads duplicated headers each on their own', async () => {
    const bytes = mixed('Content-Disposition: attachment; filename="a.pdf"\r\nContent-Disposition: attachment; filename="a.scr"\r\n\r\nx');
    assert.deepEqual((await scan(bytes)).kind, 'banned');
  });

  it('lists every banned file and says how many more there are', async () => {
    const bytes = mixed(exe, exe, exe.replace('setup.exe', 'run.bat'), 'Content-Type: application/pdf; name="ok.pdf"\r\n\r\nx');
    assert.deepEqual(await scan(bytes), {
      kind: 'banned',
      reason: 'banned attachment type: setup.exe (and 1 more)',
      items: ['setup.exe', 'run.bat'],
    });
  });

  it('an inline part without a name is body, not an attachment', async () => {
    const bytes = mixed('Content-Type: text/html\r\nContent-Disposition: inline\r\n\r\n<p>hi</p>', 'Content-Type: image/png\r\nContent-ID: <a@b>\r\n\r\nx');
    assert.deepEqual(await scan(bytes), { kind: 'clean' });
  });

  it('opens a base64-encoded attached message', async () => {
    const inner = mixed(exe).toString('base64').replace(/.{76}/g, '$&\r\n');
    const bytes = mixed(`Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment\r\n\r\n${inner}`);
    assert.deepEqual(await scan(bytes), { kind: 'banned', reason: 'banned attachment type: setup.exe', items: ['setup.exe'] });
  });

  it('opens an inline attached message and a message/global one', async () => {
    for (const type of ['message/rfc822', 'message/global']) {
      const bytes = mixed(`Content-Type: ${type}\r\nContent-Disposition: inline\r\n\r\n${mixed(exe).toString('latin1')}`);
      assert.deepEqual((await scan(bytes)).kind, 'banned', type);
    }
  });

  it(`opens attached messages ${MAX_DEPTH} deep and bans deeper nesting`, async () => {
    const nest = (levels: number): Buffer => {
      let bytes = mixed('Content-Type: application/pdf; name="ok.pdf"\r\n\r\nx');
      for (let i = 0; i < levels; i++) bytes = mixed(`Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n${bytes.toString('base64')}`);
      return bytes;
    };
    // the fan-out shares the signal with other scanners: nesting must not add a listener per level
    const shared = new AbortController();
    setMaxListeners(12, shared.signal);
    for (let i = 0; i < 10; i++) shared.signal.addEventListener('abort', () => {});
    const warnings: Error[] = [];
    const onWarning = (warning: Error): number => warnings.push(warning);
    process.on('warning', onWarning);
    assert.deepEqual(await scan(nest(MAX_DEPTH), shared.signal), { kind: 'clean' });
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', onWarning);
    assert.deepEqual(warnings, []);
    assert.deepEqual(await scan(nest(MAX_DEPTH + 1)), {
      kind: 'banned',
      reason: 'attached messages nested too deeply: message/rfc822',
      items: ['message/rfc822'],
    });
  });

  it('a header the parser refuses (over 1 MiB) is a protocol error, not clean', async () => {
    const bytes = Buffer.from(`Subject: ${'x'.repeat(1100 * 1024)}\r\n\r\nbody\r\n`);
    const verdict = await scan(bytes);
    assert.equal(verdict.kind, 'error');
    assert.equal(verdict.kind === 'error' && verdict.error, 'protocol');
  });

  it('more parts than the parser allows (1,000) is a protocol error, not clean', async () => {
    const verdict = await scan(mixed(...Array.from({ length: 1001 }, () => 'Content-Type: text/plain\r\n\r\nx')));
    assert.equal(verdict.kind === 'error' && verdict.error, 'protocol');
  });

  it('a failing spool reader is an error verdict, not clean', async () => {
    const message = {
      size: 100,
      createReadStream: () =>
        new Readable({
          read() {
            this.destroy(new Error('EIO: read failed'));
          },
        }),
    };
    const verdict = await scanAttachments(message, new AbortController().signal, defaultRules);
    assert.deepEqual(verdict, { kind: 'error', error: 'protocol', detail: 'cannot parse MIME structure: EIO: read failed' });
  });
});

describe('attachments scanner: factory and options', () => {
  it('defaults', () => {
    const options = attachmentsOptions.parse({});
    assert.equal(options.doubleExtensions, true);
    assert.ok(options.banned.includes('exe') && options.banned.includes('img'));
    assert.ok(options.bannedTypes.includes('application/x-msdownload'));
  });

  it('rejects unknown keys and malformed entries', () => {
    assert.equal(attachmentsOptions.safeParse({ scanArchives: true }).success, false);
    assert.equal(attachmentsOptions.safeParse({ banned: ['tar.gz'] }).success, false);
    assert.equal(attachmentsOptions.safeParse({ banned: [''] }).success, false);
    assert.equal(attachmentsOptions.safeParse({ bannedTypes: ['exe'] }).success, false);
    assert.deepEqual(attachmentsOptions.parse({ banned: [' .EXE '] }).banned, ['.EXE']);
  });

  it('creates a named scanner that uses its options', async () => {
    assert.equal(attachmentsScanner.type, 'attachments');
    assert.deepEqual(attachmentsScanner.defaults, { maxSize: 0 });
    const scanner = attachmentsScanner.create(attachmentsOptions.parse({ banned: ['.PDF'] }), {
      name: 'policy',
      logger: undefined as never,
    });
    assert.equal(scanner.name, 'policy');
    assert.equal(scanner.type, 'attachments');
    const verdict = await scanner.scan(spooled(await fixture('clean-pdf')), new AbortController().signal, scanSession());
    assert.deepEqual(verdict, { kind: 'banned', reason: 'banned attachment type: report.pdf', items: ['report.pdf'] });
  });
});
