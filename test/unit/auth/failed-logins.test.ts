import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FailedLogins } from '../../../src/auth/failed-logins.js';
import { capturedLogger } from '../../helpers/captured-logger.js';

const settings = (perAddress: number, perUser: number) => ({
  store: 'memory' as const,
  redis: { url: 'redis://127.0.0.1:6379', timeout: 500 },
  perAddress: { limit: perAddress, window: 60_000 },
  perUser: { limit: perUser, window: 60_000 },
  ipv6Prefix: 64,
});

describe('FailedLogins', () => {
  test('only failures count: the address is held back after its limit, other addresses are not', async () => {
    const logins = new FailedLogins(settings(2, 100), capturedLogger().logger, { clustered: false });
    assert.equal(await logins.overLimit('192.0.2.1', 'ann'), undefined);
    await logins.failed('192.0.2.1', 'ann');
    assert.equal(await logins.overLimit('192.0.2.1', 'ann'), undefined);
    await logins.failed('192.0.2.1', 'bob');
    assert.equal(await logins.overLimit('192.0.2.1', 'carl'), 'address');
    assert.equal(await logins.overLimit('192.0.2.2', 'ann'), undefined);
  });

  test('a user is held back after its limit from any address, counted case-blind', async () => {
    const logins = new FailedLogins(settings(100, 2), capturedLogger().logger, { clustered: false });
    await logins.failed('192.0.2.1', 'Ann@Example.test');
    await logins.failed('192.0.2.2', 'ann@example.test');
    assert.equal(await logins.overLimit('198.51.100.9', 'ANN@example.test'), 'user');
    assert.equal(await logins.overLimit('198.51.100.9', 'bob@example.test'), undefined);
  });

  test('IPv6 clients are counted per /64 (ipv6Prefix)', async () => {
    const logins = new FailedLogins(settings(1, 100), capturedLogger().logger, { clustered: false });
    await logins.failed('2001:db8:1:2::1', 'ann');
    assert.equal(await logins.overLimit('2001:db8:1:2:ffff::9', 'bob'), 'address');
    assert.equal(await logins.overLimit('2001:db8:1:3::1', 'bob'), undefined);
  });

  test('limit 0: never held back', async () => {
    const logins = new FailedLogins(settings(0, 0), capturedLogger().logger, { clustered: false });
    for (let i = 0; i < 5; i++) await logins.failed('192.0.2.1', 'ann');
    assert.equal(await logins.overLimit('192.0.2.1', 'ann'), undefined);
  });
});
