import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { events, type AccountEvent } from '../../../src/observe/events.js';
import { outboundSchema } from '../../../src/outbound/config.js';
import { OutboundPolicy } from '../../../src/outbound/outbound-policy.js';
import { formatReply } from '../../../src/smtp/reply.js';
import { capturedLogger } from '../../helpers/captured-logger.js';

function policy(raw: Record<string, unknown>) {
  const { logger, lines } = capturedLogger();
  const seen: AccountEvent[] = [];
  const stop = events.account.subscribe((event) => seen.push(event));
  return { outbound: OutboundPolicy.create(outboundSchema.parse(raw), logger), logger, lines, seen, stop };
}

describe('outbound policy at MAIL and RCPT', () => {
  test('a sender the login may not use: 553 5.7.1 in Postfix\'s words, logged, counted, and not counted as a message', async () => {
    const { outbound, logger, lines, seen, stop } = policy({ limits: { messagesPerHour: 1 } });
    const reply = await outbound.mail('alice@example.test', 'ceo@example.org', logger);
    assert.equal(reply && formatReply(reply), '553 5.7.1 <ceo@example.org>: Sender address rejected: not owned by user alice@example.test');
    assert.deepEqual(lines.map(({ msg, user, from }) => ({ msg, user, from })), [
      { msg: 'sender address not allowed for this login', user: 'alice@example.test', from: 'ceo@example.org' },
    ]);
    assert.equal(await outbound.mail('alice@example.test', 'alice@example.test', logger), undefined, 'the refused MAIL used none of the hour\'s one message');
    assert.deepEqual(seen, [{ event: 'sender-refused' }]);
    stop();
    await outbound.close();
  });

  test('over a limit: the 450, one log line with the login and the limit, one event', async () => {
    const { outbound, logger, lines, seen, stop } = policy({ limits: { messagesPerDay: 1, recipientsPerHour: 1 } });
    assert.equal(await outbound.mail('alice@example.test', 'alice@example.test', logger), undefined);
    assert.equal((await outbound.mail('alice@example.test', 'alice@example.test', logger))?.code, 450);
    assert.equal(await outbound.rcpt('alice@example.test', 'x@example.org', logger), undefined);
    assert.equal(
      formatReply((await outbound.rcpt('alice@example.test', 'y@example.org', logger))!),
      '450 4.7.1 Your account reached its limit of recipients per hour (1), please try again later',
    );
    assert.deepEqual(lines.map(({ msg, command, user, limit, recipient }) => ({ msg, command, user, limit, recipient })), [
      { msg: 'account over its limit', command: 'MAIL', user: 'alice@example.test', limit: 'messagesPerDay', recipient: undefined },
      { msg: 'account over its limit', command: 'RCPT', user: 'alice@example.test', limit: 'recipientsPerHour', recipient: 'y@example.org' },
    ]);
    assert.deepEqual(seen, [{ event: 'over-limit', limit: 'messagesPerDay' }, { event: 'over-limit', limit: 'recipientsPerHour' }]);
    stop();
    await outbound.close();
  });

  test('a session without a login (never reached: AUTH comes first) owns no sender', async () => {
    const { outbound, logger, stop } = policy({});
    assert.equal((await outbound.mail('', 'alice@example.test', logger))?.code, 553);
    stop();
    await outbound.close();
  });

  test('a reload keeps the counts of unchanged limits, and starts afresh when they change', async () => {
    const { outbound, logger, stop } = policy({ limits: { messagesPerDay: 1 } });
    assert.equal(await outbound.mail('alice@example.test', 'alice@example.test', logger), undefined);
    const reloaded = OutboundPolicy.create(outboundSchema.parse({ limits: { messagesPerDay: 1 }, senders: { default: 'any' } }), logger, outbound);
    assert.equal((await reloaded.mail('alice@example.test', 'boss@example.org', logger))?.code, 450, 'the day\'s count went on; the new senders rule applies');
    const changed = OutboundPolicy.create(outboundSchema.parse({ limits: { messagesPerDay: 2 } }), logger, reloaded);
    assert.equal(await changed.mail('alice@example.test', 'alice@example.test', logger), undefined);
    await outbound.close(reloaded);
    await reloaded.close(changed);
    await changed.close();
    stop();
  });
});
