import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { clientKey } from '../../../src/screen/rate-limit-key.js';
import { RateLimits, rateLimitsSchema } from '../../../src/screen/rate-limits.js';
import { formatReply } from '../../../src/smtp/reply.js';

const logger = pino({ level: 'silent' });

function limits(raw: Record<string, unknown>): RateLimits {
  return RateLimits.create(rateLimitsSchema.parse(raw), logger, { clustered: false });
}

/** The wire form of each reply of `count` calls (undefined: let through). */
async function calls(count: number, call: () => Promise<{ code: number; enhanced?: string; text: string } | undefined>) {
  const out: (string | undefined)[] = [];
  for (let i = 0; i < count; i++) {
    const reply = await call();
    out.push(reply && formatReply(reply));
  }
  return out;
}

describe('rate limits settings', () => {
  test('every limit is off by default, with a one-minute window, in memory, IPv6 per /64', () => {
    const settings = rateLimitsSchema.parse(undefined);
    assert.equal(settings.store, 'memory');
    assert.equal(settings.ipv6Prefix, 64);
    assert.deepEqual(settings.redis, { url: 'redis://127.0.0.1:6379', timeout: 500 });
    for (const name of ['connections', 'messages', 'recipients', 'recipientsPerSender'] as const) {
      assert.deepEqual(settings[name], { limit: 0, window: 60_000 });
    }
  });

  test('a window must be whole seconds, and unknown keys name themselves', () => {
    assert.equal(rateLimitsSchema.parse({ messages: { limit: 5, window: '2m' } }).messages.window, 120_000);
    assert.throws(() => rateLimitsSchema.parse({ messages: { limit: 5, window: '1500ms' } }), /whole number of seconds/);
    assert.throws(() => rateLimitsSchema.parse({ messages: { limit: 5, windows: '1m' } }), /windows/);
    assert.throws(() => rateLimitsSchema.parse({ ipv6Prefix: 129 }));
  });
});

describe('rate limits (memory store)', () => {
  test('connections: the one over the limit gets Postfix anvil\'s 421, other addresses are not affected', async () => {
    const rl = limits({ connections: { limit: 2, window: '1m' } });
    assert.deepEqual(await calls(3, () => rl.connection('192.0.2.7')), [
      undefined,
      undefined,
      '421 4.7.0 Error: too many connections from 192.0.2.7',
    ]);
    assert.equal(await rl.connection('192.0.2.8'), undefined);
    await rl.close();
  });

  test('messages and recipients per client address: 450 with anvil\'s wording', async () => {
    const rl = limits({ messages: { limit: 1 }, recipients: { limit: 2 } });
    assert.deepEqual(await calls(2, () => rl.message('198.51.100.1')), [undefined, '450 4.7.1 Error: too much mail from 198.51.100.1']);
    assert.deepEqual(await calls(3, () => rl.recipient('198.51.100.1', 'a@example.test')), [
      undefined,
      undefined,
      '450 4.7.1 Error: too many recipients from 198.51.100.1',
    ]);
    await rl.close();
  });

  test('recipients per sender count across clients, case-blind; the null sender is not counted by sender', async () => {
    const rl = limits({ recipientsPerSender: { limit: 2 } });
    assert.equal(await rl.recipient('192.0.2.1', 'Bulk@Example.test'), undefined);
    assert.equal(await rl.recipient('192.0.2.2', 'bulk@example.test'), undefined);
    assert.equal(
      formatReply((await rl.recipient('192.0.2.3', 'BULK@example.test'))!),
      '450 4.7.1 Error: too many recipients from sender <BULK@example.test>',
    );
    assert.deepEqual(await calls(5, () => rl.recipient('192.0.2.1', '')), new Array(5).fill(undefined));
    await rl.close();
  });

  test('when both recipient limits are reached, the client\'s own is named', async () => {
    const rl = limits({ recipients: { limit: 1 }, recipientsPerSender: { limit: 1 } });
    assert.equal(await rl.recipient('192.0.2.9', 'x@example.test'), undefined);
    assert.equal(formatReply((await rl.recipient('192.0.2.9', 'x@example.test'))!), '450 4.7.1 Error: too many recipients from 192.0.2.9');
    await rl.close();
  });

  test('a limit of 0 is no limit', async () => {
    const rl = limits({ connections: { limit: 0 } });
    assert.deepEqual(await calls(50, () => rl.connection('192.0.2.7')), new Array(50).fill(undefined));
    await rl.close();
  });

  test('a new window starts a new count', async () => {
    const rl = limits({ messages: { limit: 1, window: '1s' } });
    assert.deepEqual(await calls(2, () => rl.message('192.0.2.7')), [undefined, '450 4.7.1 Error: too much mail from 192.0.2.7']);
    await sleep(1100);
    assert.equal(await rl.message('192.0.2.7'), undefined);
    await rl.close();
  });

  test('IPv6 clients are counted per /64 and shown with their own address', async () => {
    const rl = limits({ connections: { limit: 1 } });
    assert.equal(await rl.connection('2001:db8:1:2::1'), undefined);
    assert.equal(formatReply((await rl.connection('2001:db8:1:2:ffff::9'))!), '421 4.7.0 Error: too many connections from 2001:db8:1:2:ffff::9');
    assert.equal(await rl.connection('2001:db8:1:3::1'), undefined, 'the next /64 is another client');
    await rl.close();
  });

  test('ipv6Prefix sets the size of the network counted as one client', async () => {
    const rl = limits({ ipv6Prefix: 48, connections: { limit: 1 } });
    assert.equal(await rl.connection('2001:db8:1:2::1'), undefined);
    assert.ok(await rl.connection('2001:db8:1:ffff::1'));
    assert.equal(await rl.connection('2001:db8:2::1'), undefined);
    await rl.close();
  });

  test('an IPv4 client on a dual-stack socket counts and reads as its IPv4 address', async () => {
    const rl = limits({ connections: { limit: 1 } });
    assert.equal(await rl.connection('192.0.2.7'), undefined);
    assert.equal(formatReply((await rl.connection('::ffff:192.0.2.7'))!), '421 4.7.0 Error: too many connections from 192.0.2.7');
    await rl.close();
  });
});

describe('clientKey', () => {
  test('masks IPv6 to the prefix, whatever its spelling', () => {
    assert.equal(clientKey('2001:db8:1:2:3:4:5:6', 64), '2001:db8:1:2:0:0:0:0/64');
    assert.equal(clientKey('2001:DB8:1:2::', 64), '2001:db8:1:2:0:0:0:0/64');
    assert.equal(clientKey('2001:db8:1:a2ff::', 52), '2001:db8:1:a000:0:0:0:0/52');
    assert.equal(clientKey('::1', 128), '0:0:0:0:0:0:0:1/128');
    assert.equal(clientKey('64:ff9b::192.0.2.7', 128), '64:ff9b:0:0:0:0:c000:207/128');
  });

  test('IPv4, IPv4-mapped IPv6 and anything else are keyed as they are', () => {
    assert.equal(clientKey('192.0.2.7', 64), '192.0.2.7');
    assert.equal(clientKey('::ffff:192.0.2.7', 64), '192.0.2.7');
    assert.equal(clientKey('/run/smtp.sock', 64), '/run/smtp.sock');
  });
});
