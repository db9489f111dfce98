import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { dkimBody } from 'mailauth/lib/dkim/body/index.js';
import { RelaxedBodyHash } from '../../../src/dkim/relaxed-body-hash.js';

/** mailauth's relaxed body hash, the reference (its verifier computes bh= with it). */
function reference(chunks: readonly Buffer[]): string {
  const hasher = dkimBody('relaxed/relaxed', 'sha256', false);
  for (const chunk of chunks) hasher.update(chunk);
  return hasher.digest('base64');
}

function ours(chunks: readonly Buffer[]): string {
  const hasher = new RelaxedBodyHash();
  for (const chunk of chunks) hasher.update(chunk);
  return hasher.digest();
}

/** The body cut into pieces at the given offsets, as a stream delivers it. */
function split(body: Buffer, cuts: readonly number[]): Buffer[] {
  const at = [...new Set(cuts.map((cut) => cut % (body.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const cut of at) {
    pieces.push(body.subarray(from, cut));
    from = cut;
  }
  pieces.push(body.subarray(from));
  return pieces;
}

describe('RelaxedBodyHash', () => {
  for (const [name, body] of [
    ['an empty body', ''],
    ['only empty lines', '\r\n\r\n\r\n'],
    ['spaces and tabs inside, leading and trailing', ' \t a \t b\t \r\n\tc  \r\n'],
    ['a line of only whitespace in the middle and at the end', 'a\r\n \t \r\nb\r\n  \r\n\r\n'],
    ['no CRLF at the end', 'last line  '],
    ['8-bit bytes', 'gr\u00fc\u00dfe \t\r\n'],
  ] as const) {
    test(`${name}: the hash mailauth computes`, () => {
      const bytes = Buffer.from(body, 'utf8');
      assert.equal(ours([bytes]), reference([bytes]));
    });
  }

  // As the spool holds it: lines end with CRLF (no bare CR or LF), and so does the body.
  test('any body of text and whitespace lines, in any chunks: the hash mailauth computes', () => {
    const piece = fc.constantFrom('a', 'b', ' ', '\t', '\r\n', '\r\n', '.');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 60 }), fc.array(fc.nat(), { maxLength: 6 }), (pieces, cuts) => {
        const body = Buffer.from(pieces.length > 0 ? `${pieces.join('')}\r\n` : '');
        assert.equal(ours(split(body, cuts)), reference([body]));
      }),
      { numRuns: 2000 },
    );
  });

  test('a body longer than the output buffer', () => {
    const body = Buffer.from(`${'word  \t'.repeat(20_000)}\r\n`.repeat(3));
    assert.equal(ours(split(body, [1, 65_536, 100_003])), reference([body]));
  });
});
