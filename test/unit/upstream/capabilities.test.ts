import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Capabilities } from '../../../src/upstream/capabilities.js';

// Postfix 3.7's EHLO reply with XCLIENT allowed, as lines after "250-"/"250 ".
const POSTFIX = [
  'mx.example.org',
  'PIPELINING',
  'SIZE 10240000',
  'VRFY',
  'ETRN',
  'STARTTLS',
  'XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT',
  'ENHANCEDSTATUSCODES',
  '8BITMIME',
  'DSN',
  'SMTPUTF8',
  'CHUNKING',
];

describe('Capabilities', () => {
  test('a Postfix EHLO reply', () => {
    const caps = Capabilities.fromEhlo(POSTFIX);
    assert.equal(caps.size, 10240000);
    assert.deepEqual([...caps.xclientAttributes], ['NAME', 'ADDR', 'PROTO', 'HELO', 'REVERSE_NAME', 'PORT', 'LOGIN', 'DESTADDR', 'DESTPORT']);
    for (const flag of ['pipelining', 'starttls', 'eightBitMime', 'smtpUtf8', 'dsn', 'enhancedStatusCodes', 'chunking'] as const) {
      assert.equal(caps[flag], true, flag);
    }
    assert.equal(caps.has('MX.EXAMPLE.ORG'), false, 'the greeting line is no keyword');
    assert.deepEqual([...caps.keywords.keys()].length, POSTFIX.length - 1);
  });

  test('keywords are case-insensitive, params keep their case', () => {
    const caps = Capabilities.fromEhlo(['hi', 'auth PLAIN login', 'Xclient name addr']);
    assert.equal(caps.has('AUTH'), true);
    assert.equal(caps.has('auth'), true);
    assert.deepEqual(caps.params('Auth'), ['PLAIN', 'login']);
    assert.deepEqual([...caps.xclientAttributes], ['NAME', 'ADDR']);
  });

  test('SIZE: missing, without a value, zero, garbage', () => {
    assert.equal(Capabilities.fromEhlo(['hi']).size, undefined);
    assert.equal(Capabilities.fromEhlo(['hi', 'SIZE']).size, 0);
    assert.equal(Capabilities.fromEhlo(['hi', 'SIZE 0']).size, 0);
    assert.equal(Capabilities.fromEhlo(['hi', 'SIZE lots']).size, 0);
  });

  test('skips empty lines (smtp-sink), non-keywords and repeats', () => {
    const caps = Capabilities.fromEhlo(['sink', 'PIPELINING', 'AUTH=PLAIN', '  ', 'SIZE 10', 'SIZE 20', '']);
    assert.deepEqual([...caps.keywords.keys()], ['PIPELINING', 'SIZE']);
    assert.equal(caps.size, 10);
  });

  test('none() offers nothing', () => {
    const caps = Capabilities.none();
    assert.equal(caps.keywords.size, 0);
    assert.equal(caps.starttls, false);
    assert.equal(caps.size, undefined);
    assert.equal(caps.xclientAttributes.size, 0);
  });
});
