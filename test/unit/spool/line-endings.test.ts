import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LineEndingNormalizer } from '../../../src/spool/line-endings.js';

function normalize(chunks: string[]): { text: string; bare: number } {
  const normalizer = new LineEndingNormalizer();
  const out = chunks.map((chunk) => normalizer.push(Buffer.from(chunk, 'latin1')));
  out.push(normalizer.end());
  return { text: Buffer.concat(out).toString('latin1'), bare: normalizer.bareLineBreaks };
}

/** The obvious byte-by-byte version, to compare the fast one against. */
function reference(text: string): string {
  return text.replace(/\r\n|\r|\n/g, '\r\n');
}

describe('LineEndingNormalizer', () => {
  const cases: [string, string, number][] = [
    ['a\r\nb\r\n', 'a\r\nb\r\n', 0],
    ['a\nb\n', 'a\r\nb\r\n', 2],
    ['a\rb\r', 'a\r\nb\r\n', 2],
    ['\n.\n', '\r\n.\r\n', 2],
    ['\r\n.\n', '\r\n.\r\n', 1],
    ['\n.\r\n', '\r\n.\r\n', 1],
    ['\r.\r', '\r\n.\r\n', 2],
    ['\r\n.\r', '\r\n.\r\n', 1],
    ['a\r\r\nb', 'a\r\n\r\nb', 1],
    ['a\n\rb', 'a\r\n\r\nb', 2],
    ['', '', 0],
  ];
  for (const [input, expected, bare] of cases) {
    test(`normalizes ${JSON.stringify(input)}`, () => {
      assert.deepEqual(normalize([input]), { text: expected, bare });
    });
  }

  test('a CRLF split across chunks stays one line break', () => {
    assert.deepEqual(normalize(['a\r', '\nb\r', '\n']), { text: 'a\r\nb\r\n', bare: 0 });
  });

  test('a CR at the end of a chunk followed by text is bare', () => {
    assert.deepEqual(normalize(['a\r', 'b']), { text: 'a\r\nb', bare: 1 });
  });

  test('a CR that ends the message is bare', () => {
    assert.deepEqual(normalize(['a\r']), { text: 'a\r\n', bare: 1 });
  });

  test('well-formed chunks pass through without a copy', () => {
    const chunk = Buffer.from('Subject: x\r\n\r\nbody\r\n');
    assert.equal(new LineEndingNormalizer().push(chunk), chunk);
  });

  test('matches the reference on random inputs split at random points', () => {
    const alphabet = ['a', '.', '\r', '\n', '\r\n', 'xyz'];
    let seed = 12345;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let round = 0; round < 2000; round++) {
      let text = '';
      for (let i = random(40); i > 0; i--) text += alphabet[random(alphabet.length)];
      const chunks: string[] = [];
      for (let rest = text; rest.length > 0; ) {
        const cut = 1 + random(rest.length);
        chunks.push(rest.slice(0, cut));
        rest = rest.slice(cut);
      }
      assert.equal(normalize(chunks).text, reference(text), `round ${round}: ${JSON.stringify(chunks)}`);
    }
  });
});
