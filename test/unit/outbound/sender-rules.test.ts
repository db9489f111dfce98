import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { outboundSchema } from '../../../src/outbound/config.js';
import { SenderRules } from '../../../src/outbound/sender-rules.js';

const rules = (senders: Record<string, unknown> = {}) => new SenderRules(outboundSchema.parse({ senders }).senders);

describe('sender rules', () => {
  test('by default an address login may send from any address of its own domain, and no other', () => {
    const r = rules();
    assert.equal(r.allows('alice@example.test', 'alice@example.test'), true);
    assert.equal(r.allows('alice@example.test', 'sales@Example.TEST'), true);
    assert.equal(r.allows('Alice@Example.test', 'bob@example.test'), true);
    assert.equal(r.allows('alice@example.test', 'alice@example.org'), false);
    assert.equal(r.allows('alice@example.test', 'alice@sub.example.test'), false);
    assert.equal(r.allows('alice@example.test', 'alice@example.test.evil.test'), false);
  });

  test('a login that is no address owns no domain: refused unless listed or default any', () => {
    assert.equal(rules().allows('alice', 'alice@example.test'), false);
    assert.equal(rules({ default: 'any' }).allows('alice', 'anyone@anywhere.test'), true);
    assert.equal(rules({ allowed: { alice: ['alice@example.test'] } }).allows('alice', 'alice@example.test'), true);
  });

  test('login-address: exactly the login', () => {
    const r = rules({ default: 'login-address' });
    assert.equal(r.allows('alice@example.test', 'ALICE@example.test'), true);
    assert.equal(r.allows('alice@example.test', 'bob@example.test'), false);
  });

  test('a listed login gets exactly its entries: addresses, domains with or without @, or *', () => {
    const r = rules({
      allowed: {
        'Alice@example.test': ['alice@example.test', 'example.org', '@example.net'],
        relay: ['*'],
      },
    });
    assert.equal(r.allows('alice@example.test', 'alice@example.test'), true);
    assert.equal(r.allows('alice@example.test', 'bob@example.test'), false, 'the default rule does not add the login domain');
    assert.equal(r.allows('ALICE@example.test', 'x@Example.org'), true);
    assert.equal(r.allows('alice@example.test', 'x@example.net'), true);
    assert.equal(r.allows('alice@example.test', 'x@example.com'), false);
    assert.equal(r.allows('relay', 'whoever@example.com'), true);
  });

  test('the null sender belongs to everyone (read receipts, a mail program\'s bounces)', () => {
    assert.equal(rules().allows('alice', ''), true);
  });

  test('config: entries are checked, a login listed twice in two cases is an error', () => {
    assert.throws(() => outboundSchema.parse({ senders: { allowed: { alice: ['a b@example.test'] } } }), /an address, a domain/);
    assert.throws(() => outboundSchema.parse({ senders: { allowed: { alice: [] } } }));
    assert.throws(() => outboundSchema.parse({ senders: { allowed: { alice: ['x.test'], ALICE: ['y.test'] } } }), /listed twice/);
    assert.throws(() => outboundSchema.parse({ senders: { default: 'domain' } }));
  });
});
