import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { rfc5322Date } from '../../../src/message/date.js';

describe('rfc5322Date', () => {
  test('UTC with a numeric zone, the day without a leading zero, two-digit times', () => {
    assert.equal(rfc5322Date(new Date(Date.UTC(2027, 0, 3, 23, 59, 1))), 'Sun, 3 Jan 2027 23:59:01 +0000');
    assert.equal(rfc5322Date(new Date(Date.UTC(2026, 10, 1, 5, 4, 3))), 'Sun, 1 Nov 2026 05:04:03 +0000');
  });
});
