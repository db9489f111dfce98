import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import { clamavScanner, type ClamavOptions } from '../../../../scanners/clamav/index.js';

const parse = (input: unknown) => clamavScanner.options.safeParse(input);

describe('clamav options', () => {
  test('defaults: 64 KiB chunks; host and port stay unset in the schema', () => {
    assert.deepEqual(parse({}).data, { chunkSize: 65_536 });
  });

  test('socket and host/port exclude each other', () => {
    assert.equal(parse({ socket: '/run/clamav/clamd.ctl' }).success, true);
    assert.equal(parse({ host: 'av.internal', port: 3310 }).success, true);
    assert.equal(parse({ socket: '/run/clamav/clamd.ctl', port: 3310 }).success, false);
    assert.equal(parse({ socket: '/run/clamav/clamd.ctl', host: '127.0.0.1' }).success, false);
  });

  test('unknown keys and bad values are errors', () => {
    assert.equal(parse({ timeout: 5 }).success, false);
    assert.equal(parse({ port: 0 }).success, false);
    assert.equal(parse({ port: 70_000 }).success, false);
    assert.equal(parse({ chunkSize: 0 }).success, false);
    assert.equal(parse({ host: '' }).success, false);
  });

  test('the instance takes its name from the context', () => {
    const scanner = clamavScanner.create(parse({}).data as ClamavOptions, { name: 'av1', logger: pino({ enabled: false }) });
    assert.equal(scanner.name, 'av1');
    assert.equal(scanner.type, 'clamav');
    assert.equal(clamavScanner.type, 'clamav');
  });
});
