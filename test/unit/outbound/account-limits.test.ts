import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { AccountLimits, type OverLimit } from '../../../src/outbound/account-limits.js';
import { outboundSchema } from '../../../src/outbound/config.js';
import { formatReply } from '../../../src/smtp/reply.js';

const logger = pino({ level: 'silent' });
const limits = (raw: Record<string, unknown>) => AccountLimits.create(outboundSchema.parse({ limits: raw }).limits, logger, { clustered: false });

/** What each of `count` calls said: undefined (let through) or the limit and the wire reply. */
async function calls(count: number, call: () => Promise<OverLimit | undefined>): Promise<(string | undefined)[]> {
  const out: (string | undefined)[] = [];
  for (let i = 0; i < count; i++) {
    const over = await call();
    out.push(over && `${over.limit}: ${formatReply(over.reply)}`);
  }
  return out;
}

describe('account limits', () => {
  test('off by default, in memory', async () => {
    const settings = outboundSchema.parse(undefined).limits;
    assert.deepEqual(
      [settings.messagesPerHour, settings.messagesPerDay, settings.recipientsPerHour, settings.recipientsPerDay, settings.store],
      [0, 0, 0, 0, 'memory'],
    );
    const l = limits({});
    assert.deepEqual(await calls(50, () => l.message('alice@example.test')), new Array(50).fill(undefined));
    await l.close();
  });

  test('messages per hour: the one over gets 450 4.7.1 naming the limit; other accounts go on', async () => {
    const l = limits({ messagesPerHour: 2 });
    assert.deepEqual(await calls(3, () => l.message('alice@example.test')), [
      undefined,
      undefined,
      'messagesPerHour: 450 4.7.1 Your account reached its limit of messages per hour (2), please try again later',
    ]);
    assert.equal(await l.message('bob@example.test'), undefined);
    await l.close();
  });

  test('a login is one account whatever its case', async () => {
    const l = limits({ messagesPerDay: 1 });
    assert.equal(await l.message('alice@example.test'), undefined);
    assert.equal((await l.message('ALICE@Example.test'))?.limit, 'messagesPerDay');
    await l.close();
  });

  test('recipients per day, and the hour is named first when both are reached', async () => {
    const l = limits({ recipientsPerDay: 2 });
    assert.deepEqual(await calls(3, () => l.recipient('alice')), [
      undefined,
      undefined,
      'recipientsPerDay: 450 4.7.1 Your account reached its limit of recipients per day (2), please try again later',
    ]);
    const both = limits({ recipientsPerHour: 1, recipientsPerDay: 1 });
    assert.deepEqual(await calls(2, () => both.recipient('alice')), [
      undefined,
      'recipientsPerHour: 450 4.7.1 Your account reached its limit of recipients per hour (1), please try again later',
    ]);
    await l.close();
    await both.close();
  });

  test('messages and recipients are counted apart', async () => {
    const l = limits({ messagesPerHour: 1, recipientsPerHour: 3 });
    assert.equal(await l.message('alice'), undefined);
    assert.deepEqual(await calls(3, () => l.recipient('alice')), [undefined, undefined, undefined]);
    assert.equal((await l.message('alice'))?.limit, 'messagesPerHour');
    await l.close();
  });
});
