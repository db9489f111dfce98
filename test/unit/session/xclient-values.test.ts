import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fitXclientValues, withoutIpv6 } from '../../../src/session/xclient-values.js';

describe('fitXclientValues: what a client chose never makes Postfix refuse XCLIENT', () => {
  test('values Postfix takes pass unchanged, [UNAVAILABLE] included', () => {
    const values = { HELO: 'mail.example.net', NAME: 'mail.example.net', REVERSE_NAME: '[UNAVAILABLE]', ADDR: '192.0.2.1' };
    assert.deepEqual(fitXclientValues(values), { attributes: values, adjusted: [] });
  });

  test('a HELO over 255 bytes is cut to 255, on a character boundary, and said', () => {
    const fitted = fitXclientValues({ HELO: `${'h'.repeat(290)}.example` });
    assert.equal(fitted.attributes.HELO, 'h'.repeat(255));
    assert.deepEqual(fitted.adjusted, ['HELO cut to 255 bytes (was 298)']);
    const wide = fitXclientValues({ HELO: 'é'.repeat(200) }).attributes.HELO!;
    assert.ok(Buffer.byteLength(wide) <= 255 && !wide.includes('\uFFFD'));
    assert.equal(wide, 'é'.repeat(127));
  });

  test('a NAME or REVERSE_NAME that is no valid host name becomes [UNAVAILABLE]', () => {
    for (const bad of ['a..b', '-a.example', 'a b.example', `${'l'.repeat(64)}.example`, '192.0.2.1', 'x'.repeat(256)]) {
      const fitted = fitXclientValues({ NAME: bad, REVERSE_NAME: bad });
      assert.deepEqual(fitted.attributes, { NAME: '[UNAVAILABLE]', REVERSE_NAME: '[UNAVAILABLE]' }, bad);
      assert.equal(fitted.adjusted.length, 2);
    }
    assert.equal(fitXclientValues({ NAME: 'x_y.example.' }).attributes.NAME, 'x_y.example.');
  });
});

describe('withoutIpv6', () => {
  test('replaces every IPv6 address by [UNAVAILABLE] and keeps the rest', () => {
    assert.deepEqual(withoutIpv6({ ADDR: 'IPV6:2001:db8::1', DESTADDR: 'IPV6:::1', PORT: '25', HELO: 'x' }), {
      ADDR: '[UNAVAILABLE]',
      DESTADDR: '[UNAVAILABLE]',
      PORT: '25',
      HELO: 'x',
    });
  });

  test('undefined when there is no IPv6 address to replace', () => {
    assert.equal(withoutIpv6({ ADDR: '192.0.2.1', DESTADDR: '192.0.2.2' }), undefined);
  });
});
