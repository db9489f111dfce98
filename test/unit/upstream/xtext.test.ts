import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { xtextEncode } from '../../../src/upstream/xtext.js';

describe('xtextEncode', () => {
  test('printable ASCII stays, "+" "=" space and controls become +XX', () => {
    assert.equal(xtextEncode('mail.example.org'), 'mail.example.org');
    assert.equal(xtextEncode('[UNAVAILABLE]'), '[UNAVAILABLE]');
    assert.equal(xtextEncode('a+b=c d'), 'a+2Bb+3Dc+20d');
    assert.equal(xtextEncode('x\r\nXCLIENT ADDR=1.2.3.4'), 'x+0D+0AXCLIENT+20ADDR+3D1.2.3.4');
    assert.equal(xtextEncode('\x00\x7f~!'), '+00+7F~!');
  });

  test('non-ASCII is encoded as its UTF-8 bytes, hex upper case', () => {
    assert.equal(xtextEncode('müller'), 'm+C3+BCller');
  });

  test('every byte value round-trips and the output is 33..126 without spaces', () => {
    const all = Buffer.from(Array.from({ length: 128 }, (_, i) => i)).toString('latin1');
    const encoded = xtextEncode(all);
    assert.match(encoded, /^[\x21-\x7e]*$/);
    const decoded = encoded.replace(/\+([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    assert.equal(decoded, all);
  });
});
