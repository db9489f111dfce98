import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AccessList, accessSchema, deniedReply } from '../../../src/screen/access-list.js';
import { formatReply } from '../../../src/smtp/reply.js';

const list = (allow: string[], deny: string[]) => new AccessList(accessSchema.parse({ allow, deny }));

describe('accessSchema', () => {
  test('takes IPv4 and IPv6 ranges and bare addresses as written (check-config --print gives them back); both lists default to empty', () => {
    const written = ['192.0.2.0/24', '2001:db8::/32', '198.51.100.7', '::1'];
    assert.deepEqual(accessSchema.parse({ allow: written }).allow, written);
    assert.deepEqual(accessSchema.parse(undefined), { allow: [], deny: [] });
  });

  for (const [bad, message] of [
    ['192.0.2.0/33', /prefix longer than 32 bits/],
    ['10.1.2.3/8', /host bits set in "10.1.2.3\/8" \(the network is 10.0.0.0\/8\)/],
    ['2001:db8::1/32', /the network is 2001:db8::\/32/],
    ['mail.example.org', /not an IPv4 or IPv6 address/],
    ['192.0.2.0/x', /not a prefix length/],
  ] as const) {
    test(`refuses ${bad} with a message naming it`, () => {
      const result = accessSchema.safeParse({ deny: [bad] });
      assert.equal(result.success, false);
      assert.match(result.error!.issues[0]!.message, message);
      assert.deepEqual(result.error!.issues[0]!.path, ['deny', 0]);
    });
  }

  test('names an unknown key', () => {
    const result = accessSchema.safeParse({ allow: [], block: [] });
    assert.equal(result.success, false);
    assert.match(JSON.stringify(result.error!.issues), /block/);
  });
});

describe('AccessList', () => {
  test('an address in neither list is undecided', () => {
    assert.equal(list(['10.0.0.0/8'], ['192.0.2.0/24']).check('198.51.100.1'), undefined);
  });

  test('allow and deny by range, IPv4 and IPv6', () => {
    const access = list(['10.0.0.0/8', '2001:db8:1::/48'], ['192.0.2.0/24', '2001:db8:bad::1']);
    assert.equal(access.check('10.20.30.40'), 'allow');
    assert.equal(access.check('192.0.2.200'), 'deny');
    assert.equal(access.check('2001:db8:1:2::3'), 'allow');
    assert.equal(access.check('2001:db8:bad::1'), 'deny');
    assert.equal(access.check('2001:db8:bad::2'), undefined);
  });

  test('an IPv4-mapped IPv6 client is matched as the IPv4 address it is', () => {
    const access = list([], ['192.0.2.0/24']);
    assert.equal(access.check('::ffff:192.0.2.9'), 'deny');
    assert.equal(access.check('::FFFF:192.0.3.9'), undefined);
  });

  test('the most specific range decides, whatever list it is in', () => {
    const access = list(['10.0.0.0/8', '192.0.2.5'], ['10.1.2.3', '192.0.2.0/24']);
    assert.equal(access.check('10.1.2.3'), 'deny');
    assert.equal(access.check('10.1.2.4'), 'allow');
    assert.equal(access.check('192.0.2.5'), 'allow');
    assert.equal(access.check('192.0.2.6'), 'deny');
  });

  test('the same range in both lists denies', () => {
    assert.equal(list(['192.0.2.0/24'], ['192.0.2.0/24']).check('192.0.2.1'), 'deny');
  });

  test('something that is no address is undecided, not an exception', () => {
    assert.equal(list(['0.0.0.0/0'], []).check('unknown'), undefined);
  });
});

describe('deniedReply', () => {
  test('521 at connect, 550 at RCPT, naming the access list and the client', () => {
    assert.equal(formatReply(deniedReply('::ffff:203.0.113.7', 'drop')), '521 5.7.1 Service unavailable; client [203.0.113.7] blocked using access list');
    assert.equal(formatReply(deniedReply('2001:db8::7', 'enforce')), '550 5.7.1 Service unavailable; client [2001:db8::7] blocked using access list');
  });
});
