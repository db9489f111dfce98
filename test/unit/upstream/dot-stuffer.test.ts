import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { DotStuffer } from '../../../src/upstream/dot-stuffer.js';

/** Runs chunks through a DotStuffer; returns the output and the chunks as pushed. */
async function stuff(chunks: readonly Buffer[]): Promise<{ output: string; pushed: Buffer[] }> {
  const pushed: Buffer[] = [];
  // 'data' events, unlike async iteration, hand over each pushed buffer as it is.
  const collect = new Writable({
    write(chunk: Buffer, _encoding, done) {
      pushed.push(chunk);
      done();
    },
  });
  await pipeline(Readable.from(chunks), new DotStuffer(), collect);
  return { output: Buffer.concat(pushed).toString('latin1'), pushed };
}

const bytes = (text: string) => Buffer.from(text, 'latin1');

/** Every line end as CRLF, a CRLF at the end of a non-empty message. */
function normalize(input: string): string {
  const text = input.replace(/\r\n|\r|\n/g, '\r\n');
  return text === '' || text.endsWith('\r\n') ? text : `${text}\r\n`;
}

/** The obvious implementation, line by line on strings. */
function reference(input: string): string {
  const lines = normalize(input).split('\r\n');
  return `${lines.map((line) => (line.startsWith('.') ? `.${line}` : line)).join('\r\n')}.\r\n`;
}

/** What a receiving MTA does with the output: the message before the first CRLF.CRLF, unstuffed. */
function unstuff(output: string): string {
  const wire = `\r\n${output}`;
  const body = wire.slice(2, wire.indexOf('\r\n.\r\n') + 2);
  return body.split('\r\n').map((line) => (line.startsWith('.') ? line.slice(1) : line)).join('\r\n');
}

function assertSafe(input: string, output: string): void {
  assert.equal(output, reference(input));
  const wire = `\r\n${output}`; // DATA's own CRLF precedes the first line
  assert.equal(wire.indexOf('\r\n.\r\n'), wire.length - 5, 'the only end of data is the last one');
  assert.doesNotMatch(output.replace(/\r\n/g, ''), /[\r\n]/, 'no bare CR or LF');
  assert.equal(unstuff(output), normalize(input), 'unstuffing gives back the normalized message');
}

/** The input cut at the given offsets. */
function split(input: string, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => cut % (input.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of [...points, input.length]) {
    chunks.push(bytes(input.slice(start, point)));
    start = point;
  }
  return chunks;
}

const CASES: [string, string, string][] = [
  ['an empty message', '', '.\r\n'],
  ['plain lines', 'a\r\nb\r\n', 'a\r\nb\r\n.\r\n'],
  ['no CRLF at the end', 'a\r\nb', 'a\r\nb\r\n.\r\n'],
  ['a bare CR at the end', 'a\r', 'a\r\n.\r\n'],
  ['a dot-line first', '.\r\nMAIL FROM:<x>\r\n', '..\r\nMAIL FROM:<x>\r\n.\r\n'],
  ['a dotted first line', '.hidden\r\n', '..hidden\r\n.\r\n'],
  ['a lone dot line inside', 'a\r\n.\r\nMAIL FROM:<x>\r\n', 'a\r\n..\r\nMAIL FROM:<x>\r\n.\r\n'],
  ['a dot line at the end without CRLF', 'a\r\n.', 'a\r\n..\r\n.\r\n'],
  ['two dots', '..\r\n', '...\r\n.\r\n'],
  ['dots not at a line start', 'a.b\r\n x.\r\n', 'a.b\r\n x.\r\n.\r\n'],
  ['smuggling with \\n.\\n', 'a\n.\nMAIL FROM:<x>\n', 'a\r\n..\r\nMAIL FROM:<x>\r\n.\r\n'],
  ['smuggling with \\n.\\r\\n', 'a\n.\r\nMAIL FROM:<x>\r\n', 'a\r\n..\r\nMAIL FROM:<x>\r\n.\r\n'],
  ['smuggling with \\r\\n.\\n', 'a\r\n.\nMAIL FROM:<x>\r\n', 'a\r\n..\r\nMAIL FROM:<x>\r\n.\r\n'],
  ['smuggling with \\r.\\r', 'a\r.\rMAIL FROM:<x>\r\n', 'a\r\n..\r\nMAIL FROM:<x>\r\n.\r\n'],
  ['smuggling with \\r\\n.\\r', 'a\r\n.\rMAIL FROM:<x>\r\n', 'a\r\n..\r\nMAIL FROM:<x>\r\n.\r\n'],
  ['bare line ends only', '\n.\n', '\r\n..\r\n.\r\n'],
  ['CR CR LF', 'a\r\r\nb', 'a\r\n\r\nb\r\n.\r\n'],
  ['LF CR', 'a\n\rb', 'a\r\n\r\nb\r\n.\r\n'],
];

describe('DotStuffer', () => {
  for (const [name, input, expected] of CASES) {
    test(name, async () => {
      assert.equal((await stuff([bytes(input)])).output, expected);
      assertSafe(input, expected);
      // Every way to cut it in two, and byte by byte.
      for (let cut = 0; cut <= input.length; cut++) assert.equal((await stuff(split(input, [cut]))).output, expected, `cut at ${cut}`);
      assert.equal((await stuff(input.split('').map(bytes))).output, expected, 'byte by byte');
    });
  }

  test('a chunk that needs no change is pushed as it is, not copied', async () => {
    const clean = bytes('Subject: hi\r\n\r\nbody.\r\n');
    const { pushed } = await stuff([clean]);
    assert.equal(pushed[0], clean);
  });

  test('randomized messages and chunk splits match the reference and are safe', async () => {
    const message = fc.array(fc.constantFrom('\r', '\n', '.', '\r\n', '.\r\n', 'a', 'MAIL FROM:<x>', ' '), { maxLength: 60 }).map((parts) => parts.join(''));
    await fc.assert(
      fc.asyncProperty(message, fc.array(fc.nat(), { maxLength: 8 }), async (input, cuts) => {
        assertSafe(input, (await stuff(split(input, cuts))).output);
      }),
      { numRuns: 2000 },
    );
  });

  test('random binary of every byte value in random chunks', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4000 }), fc.array(fc.nat(), { maxLength: 20 }), async (data, cuts) => {
        const input = Buffer.from(data).toString('latin1');
        assertSafe(input, (await stuff(split(input, cuts))).output);
      }),
      { numRuns: 300 },
    );
  });

  test('a large message in socket-sized chunks', async () => {
    const line = (i: number) => (i % 7 === 0 ? `.line ${i}\r\n` : i % 11 === 0 ? `bare ${i}\n` : `line ${i} ${'x'.repeat(i % 90)}\r\n`);
    const input = Array.from({ length: 50_000 }, (_, i) => line(i)).join('');
    const chunks = split(input, Array.from({ length: 200 }, (_, i) => i * 16_381));
    assertSafe(input, (await stuff(chunks)).output);
  });
});
