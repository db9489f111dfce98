import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { FailedLogins } from '../../src/auth/failed-logins.js';
import { capturedLogger } from '../helpers/captured-logger.js';
import { services } from '../helpers/services.js';

/**
 * Failed logins with `store: redis` against the test Redis: two proxy instances (two
 * FailedLogins on one store) see each other's failures, so a guesser gains nothing by
 * spreading its tries over the instances behind a balancer.
 */
describe('failed-login limits in Redis', () => {
  const settings = {
    store: 'redis' as const,
    redis: { url: `redis://127.0.0.1:${services.redisPort}`, timeout: 500 },
    perAddress: { limit: 3, window: 60_000 },
    perUser: { limit: 2, window: 60_000 },
    ipv6Prefix: 64,
  };
  const first = new FailedLogins(settings, capturedLogger().logger, { clustered: false });
  const second = new FailedLogins(settings, capturedLogger().logger, { clustered: false });
  after(async () => {
    await first.close();
    await second.close();
  });

  test("one instance's failures hold the user back on the other", async () => {
    const user = `u${randomBytes(6).toString('hex')}@example.test`;
    await first.failed('192.0.2.10', user);
    assert.equal(await second.overLimit('192.0.2.11', user), undefined);
    await second.failed('192.0.2.11', user);
    assert.equal(await first.overLimit('192.0.2.12', user), 'user');
    assert.equal(await second.overLimit('192.0.2.12', user.toUpperCase()), 'user');
  });

  test("and an address's failures hold it back on both", async () => {
    const address = `2001:db8:${randomBytes(2).toString('hex')}:1::5`;
    for (const [instance, i] of [[first, 0], [second, 1], [first, 2]] as const) await instance.failed(address, `guess${i}@example.test`);
    assert.equal(await second.overLimit(address, 'fresh@example.test'), 'address');
    assert.equal(await first.overLimit(address.replace(/::5$/, '::6'), 'fresh@example.test'), 'address', 'the same /64');
  });
});
