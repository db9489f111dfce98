import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  PING,
  SpamdProtocolError,
  encodeRequest,
  isPong,
  parseResponse,
  parseRules,
  parseSpamHeader,
  parseVersion,
  symbolsVerdict,
} from '../../../../scanners/spamassassin/protocol.js';

/** A reply captured from spamd 4.0.1 (see fixtures/captured/README.md). */
const captured = (name: string): Buffer => readFileSync(new URL(`../../../../fixtures/captured/spamd/${name}`, import.meta.url));
const reply = (text: string): Buffer => Buffer.from(text, 'latin1');
const symbols = (spam: string, body: string): Buffer =>
  reply(`SPAMD/1.1 0 EX_OK\r\nContent-length: ${body.length}\r\nSpam: ${spam}\r\n\r\n${body}`);
const protocolError = (raw: Buffer): string => {
  const verdict = symbolsVerdict(raw);
  assert.ok(verdict.kind === 'error' && verdict.error === 'protocol', JSON.stringify(verdict));
  return verdict.detail;
};

describe('spamd protocol: captured replies', () => {
  test('GTUBE scores 1000 with its rules', () => {
    assert.deepEqual(symbolsVerdict(captured('symbols-gtube.txt')), {
      kind: 'scored',
      score: 1000,
      threshold: 5,
      rules: ['GTUBE', 'NO_RECEIVED', 'NO_RELAYS', 'TVD_SPACE_RATIO'],
    });
  });

  test('a ham at -1.0 (ALL_TRUSTED) keeps its minus sign', () => {
    assert.deepEqual(symbolsVerdict(captured('symbols-ham-negative.txt')), {
      kind: 'scored',
      score: -1,
      threshold: 5,
      rules: ['ALL_TRUSTED'],
    });
  });

  test('spamd\'s "-0.0" is a plain zero', () => {
    const verdict = symbolsVerdict(captured('symbols-ham.txt'));
    assert.ok(verdict.kind === 'scored');
    assert.ok(Object.is(verdict.score, 0));
    assert.deepEqual(verdict.rules, ['NO_RECEIVED', 'NO_RELAYS']);
  });

  test('an empty message is scored, not an error', () => {
    const verdict = symbolsVerdict(captured('symbols-empty.txt'));
    assert.ok(verdict.kind === 'scored' && verdict.score === 7.4 && verdict.rules.includes('EMPTY_MESSAGE'));
  });

  test('PONG', () => {
    assert.equal(isPong(captured('pong.txt')), true);
    assert.equal(isPong(captured('symbols-gtube.txt')), false);
  });

  test('the version from a HEADERS reply', () => {
    assert.equal(parseVersion(captured('headers-version.txt')), 'SpamAssassin 4.0.1 (2024-03-25)');
  });

  for (const [file, text] of [
    ['bad-content-length.txt', 'spamd EX_PROTOCOL (76): Bad header line: (Content-Length mismatch: Expected 100 bytes, got 7 bytes)'],
    ['unknown-method.txt', 'spamd EX_PROTOCOL (76): Bad header line: FROB SPAMC/1.5'],
    ['bad-request-line.txt', 'spamd EX_PROTOCOL (76): Bad header line: hello'],
  ] as const) {
    test(`${file} is a protocol error with spamd's text`, () => {
      assert.equal(protocolError(captured(file)), text);
    });
  }
});

describe('spamd protocol: scores', () => {
  for (const [header, score, threshold] of [
    ['False ; -1.9 / 5.0', -1.9, 5],
    ['False ; 0.0 / 5.0', 0, 5],
    ['True ; 1000.0 / 5.0', 1000, 5],
    ['False ; -0.001 / 5.0', -0.001, 5],
    ['True ; 12.25 / -3.5', 12.25, -3.5],
    ['False;2/5', 2, 5],
    ['Yes ; +.5 / 5.', 0.5, 5],
  ] as const) {
    test(`Spam: ${header}`, () => {
      assert.deepEqual(parseSpamHeader(header), { score, threshold });
    });
  }

  for (const header of ['', 'True', 'True ; / 5.0', 'True ; 1.2.3 / 5.0', 'True ; --1 / 5.0', 'Maybe ; 1.0 / 5.0', 'True ; 1.0 5.0', 'True ; NaN / 5.0']) {
    test(`bad Spam header ${JSON.stringify(header)} is a protocol error`, () => {
      assert.throws(() => parseSpamHeader(header), SpamdProtocolError);
      assert.match(protocolError(symbols(header, 'A')), /bad Spam header/);
    });
  }
});

describe('spamd protocol: replies', () => {
  test('rules: commas, spaces and a trailing line break; none at all', () => {
    assert.deepEqual(parseRules(Buffer.from('A_1, B_2,,C\r\n')), ['A_1', 'B_2', 'C']);
    assert.deepEqual(parseRules(Buffer.alloc(0)), []);
    assert.deepEqual(symbolsVerdict(symbols('False ; 0.0 / 5.0', '')), { kind: 'scored', score: 0, threshold: 5, rules: [] });
  });

  test('header names are case-insensitive and their order is free', () => {
    const raw = reply('SPAMD/1.5 0 EX_OK\r\nspam: True ; 6.0 / 5.0\r\nCONTENT-LENGTH: 1\r\n\r\nX');
    assert.deepEqual(symbolsVerdict(raw), { kind: 'scored', score: 6, threshold: 5, rules: ['X'] });
  });

  for (const [code, name] of [
    [64, 'EX_USAGE'],
    [74, 'EX_IOERR'],
    [76, 'EX_PROTOCOL'],
    [99, 'error'],
  ] as const) {
    test(`status ${code} is a protocol error naming ${name}`, () => {
      assert.equal(protocolError(reply(`SPAMD/1.0 ${code} Something went wrong\r\n`)), `spamd ${name} (${code}): Something went wrong`);
    });
  }

  for (const [what, raw, message] of [
    ['nothing', '', /without a reply/],
    ['a status line cut short', 'SPAMD/1.1 0 EX_', /not a spamd status line/],
    ['not spamd', 'HTTP/1.1 200 OK\r\n\r\n', /not a spamd status line/],
    ['headers cut short', 'SPAMD/1.1 0 EX_OK\r\nContent-length: 43\r\n', /cut before the end of its headers/],
    ['a body cut short', 'SPAMD/1.1 0 EX_OK\r\nContent-length: 43\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nGTUBE,NO_', /body has 9 bytes, Content-length says 43/],
    ['a body too long', 'SPAMD/1.1 0 EX_OK\r\nContent-length: 1\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nGTUBE', /body has 5 bytes/],
    ['no Content-length', 'SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1.0 / 5.0\r\n\r\nA', /without a Content-length/],
    ['no Spam header', 'SPAMD/1.1 0 EX_OK\r\nContent-length: 1\r\n\r\nA', /without a Spam header/],
    ['a header without a colon', 'SPAMD/1.1 0 EX_OK\r\nContent-length 1\r\n\r\nA', /bad spamd header line/],
  ] as const) {
    test(`${what} is a protocol error`, () => {
      assert.match(protocolError(reply(raw)), message);
    });
  }

  test('control characters in spamd\'s error text do not reach the detail', () => {
    assert.equal(protocolError(reply('SPAMD/1.0 76 Bad header line: a\x1b[31mb\r\n')), 'spamd EX_PROTOCOL (76): Bad header line: a [31mb');
  });

  test('parseResponse keeps the protocol version spamd answered with', () => {
    assert.equal(parseResponse(captured('symbols-gtube.txt')).protocol, '1.1');
    assert.equal(parseResponse(captured('pong.txt')).protocol, '1.5');
  });

  test('a HEADERS reply without X-Spam-Checker-Version has no version', () => {
    assert.equal(parseVersion(reply('SPAMD/1.1 0 EX_OK\r\nContent-length: 12\r\nSpam: False ; 0.0 / 5.0\r\n\r\nSubject: x\r\n')), undefined);
  });
});

describe('spamd protocol: requests', () => {
  test('SYMBOLS with the exact Content-length, and a User header when set', () => {
    assert.equal(encodeRequest('SYMBOLS', 1234).toString(), 'SYMBOLS SPAMC/1.5\r\nContent-length: 1234\r\n\r\n');
    assert.equal(encodeRequest('SYMBOLS', 0, 'mail').toString(), 'SYMBOLS SPAMC/1.5\r\nContent-length: 0\r\nUser: mail\r\n\r\n');
  });

  test('PING', () => {
    assert.equal(PING.toString(), 'PING SPAMC/1.5\r\n\r\n');
  });
});
