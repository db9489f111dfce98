import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { extensionOptions } from '../../../src/server/advertised-extensions.js';
import { Capabilities } from '../../../src/upstream/capabilities.js';

const LIMIT = 52_428_800;
const ehlo = (...keywords: string[]) => Capabilities.fromEhlo(['mx.example.org', ...keywords]);

describe('extensionOptions', () => {
  test('before the upstream was seen: our size limit and 8BITMIME only', () => {
    assert.deepEqual(extensionOptions(LIMIT, undefined), { size: LIMIT, hide8BITMIME: false, hideSMTPUTF8: true, hideDSN: true });
  });

  test('a Postfix-like upstream: everything it offers, and the smaller of the two size limits', () => {
    const postfix = ehlo('PIPELINING', 'SIZE 10240000', 'VRFY', 'ETRN', 'ENHANCEDSTATUSCODES', '8BITMIME', 'DSN', 'SMTPUTF8', 'CHUNKING');
    assert.deepEqual(extensionOptions(LIMIT, postfix), { size: 10_240_000, hide8BITMIME: false, hideSMTPUTF8: false, hideDSN: false });
  });

  test('an upstream with a larger limit does not raise ours', () => {
    assert.equal(extensionOptions(LIMIT, ehlo('SIZE 104857600')).size, LIMIT);
  });

  test('SIZE without a number (no fixed maximum) or no SIZE at all: our limit', () => {
    assert.equal(extensionOptions(LIMIT, ehlo('SIZE')).size, LIMIT);
    assert.equal(extensionOptions(LIMIT, ehlo('8BITMIME')).size, LIMIT);
  });

  test('what the upstream does not offer is hidden, 8BITMIME included', () => {
    assert.deepEqual(extensionOptions(LIMIT, ehlo('PIPELINING')), { size: LIMIT, hide8BITMIME: true, hideSMTPUTF8: true, hideDSN: true });
  });

  test('keywords are matched case-insensitively', () => {
    const lower = ehlo('smtputf8', 'dsn', '8bitmime');
    assert.deepEqual(extensionOptions(LIMIT, lower), { size: LIMIT, hide8BITMIME: false, hideSMTPUTF8: false, hideDSN: false });
  });

  test('after HELO (no extensions known) nothing the upstream must support is offered', () => {
    assert.deepEqual(extensionOptions(LIMIT, Capabilities.none()), { size: LIMIT, hide8BITMIME: true, hideSMTPUTF8: true, hideDSN: true });
  });
});
