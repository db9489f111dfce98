import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import { spamassassinScanner, type SpamassassinOptions } from '../../../../scanners/spamassassin/index.js';

const parse = (input: unknown) => spamassassinScanner.options.safeParse(input);

describe('spamassassin options', () => {
  test('no adapter defaults; oversize messages are truncated at 512 KiB by the common settings', () => {
    assert.deepEqual(parse({}).data, {});
    assert.deepEqual(spamassassinScanner.defaults, { maxSize: 524_288, onOversize: 'truncate' });
  });

  test('socket and host/port exclude each other', () => {
    assert.equal(parse({ socket: '/run/spamd.sock' }).success, true);
    assert.equal(parse({ host: 'spamd.internal', port: 783, user: 'mail' }).success, true);
    assert.equal(parse({ socket: '/run/spamd.sock', port: 783 }).success, false);
    assert.equal(parse({ socket: '/run/spamd.sock', host: '127.0.0.1' }).success, false);
  });

  test('the user cannot smuggle a header', () => {
    assert.equal(parse({ user: 'mail\r\nContent-length: 1' }).success, false);
    assert.equal(parse({ user: 'two words' }).success, false);
    assert.equal(parse({ user: '' }).success, false);
  });

  test('unknown keys, and maxScanSize in particular, are errors', () => {
    assert.equal(parse({ maxScanSize: 1000 }).success, false);
    assert.equal(parse({ port: 0 }).success, false);
  });

  test('the instance takes its name from the context', () => {
    const scanner = spamassassinScanner.create(parse({}).data as SpamassassinOptions, { name: 'sa', logger: pino({ enabled: false }) });
    assert.equal(scanner.name, 'sa');
    assert.equal(scanner.type, 'spamassassin');
  });
});
