import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { byteSize, duration, parseDuration, parseSize } from '../../../src/config/units.js';

describe('parseDuration', () => {
  const cases: [number | string, number | undefined][] = [
    ['30s', 30_000],
    ['5m', 300_000],
    ['250ms', 250],
    ['1h', 3_600_000],
    ['1.5s', 1500],
    [' 2 M ', 120_000],
    // Bare numbers are seconds (Postfix's convention): `timeout: 30` must not mean 30 ms.
    [30, 30_000],
    ['30', 30_000],
    [0.25, 250],
    [0, 0],
    ['1d', undefined],
    ['-1s', undefined],
    [-1, undefined],
    [Number.POSITIVE_INFINITY, undefined],
    [Number.NaN, undefined],
    ['', undefined],
    ['s', undefined],
  ];
  for (const [input, expected] of cases) {
    test(`${JSON.stringify(input)} → ${String(expected)}`, () => assert.equal(parseDuration(input), expected));
  }
});

describe('parseSize', () => {
  const cases: [number | string, number | undefined][] = [
    [52_428_800, 52_428_800],
    ['52428800', 52_428_800],
    ['50MB', 50_000_000],
    ['50mb', 50_000_000],
    ['512KiB', 524_288],
    ['1MiB', 1_048_576],
    ['2GiB', 2 * 1024 ** 3],
    ['1k', 1000],
    ['10 B', 10],
    ['1.5MB', 1_500_000],
    [0, 0],
    [1.5, undefined],
    [-1, undefined],
    ['50XB', undefined],
    ['MB', undefined],
    ['1e3', undefined],
    ['', undefined],
  ];
  for (const [input, expected] of cases) {
    test(`${JSON.stringify(input)} → ${String(expected)}`, () => assert.equal(parseSize(input), expected));
  }
});

describe('zod types', () => {
  test('duration and byteSize parse to numbers and name what they expected on failure', () => {
    assert.equal(duration.parse('5m'), 300_000);
    assert.equal(byteSize.parse('512KiB'), 524_288);
    const badDuration = duration.safeParse('soon');
    assert.equal(badDuration.success, false);
    assert.match(badDuration.error!.issues[0]!.message, /not a duration: "soon"/);
    const badSize = byteSize.safeParse('huge');
    assert.equal(badSize.success, false);
    assert.match(badSize.error!.issues[0]!.message, /not a size: "huge"/);
    assert.equal(duration.safeParse(true).success, false);
  });
});

describe('parseSize regressions', () => {
  test('a unit named like an Object.prototype property is not a size', () => {
    assert.equal(parseSize('1constructor'), undefined);
    assert.equal(parseSize('2toString'), undefined);
  });
});
