import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCommand, UsageError } from '../../../src/commands/usage.js';
import { dkimKeygen } from '../../../src/commands/dkim-keygen.js';

test('dkim-keygen on the command line', () => {
  assert.deepEqual(parseCommand(['dkim-keygen', 'example.org', 's1']), { name: 'dkim-keygen', domain: 'example.org', selector: 's1', algorithm: 'rsa', dir: '.' });
  assert.deepEqual(parseCommand(['dkim-keygen', '--ed25519', '--dir', '/k', 'example.org', 's1']), { name: 'dkim-keygen', domain: 'example.org', selector: 's1', algorithm: 'ed25519', dir: '/k' });
  for (const [args, message] of [
    [['dkim-keygen', 'example.org'], 'dkim-keygen needs a DOMAIN and a SELECTOR'],
    [['dkim-keygen', 'a.org', 's', 'extra'], 'dkim-keygen needs a DOMAIN and a SELECTOR'],
    [['--ed25519'], '--ed25519 goes with dkim-keygen only'],
    [['scan', 'x', '--dir', 'd'], '--dir goes with dkim-keygen only'],
    [['dkim-keygen', '--config', 'c.yaml', 'a.org', 's'], 'dkim-keygen reads no config'],
  ] as const) {
    assert.throws(() => parseCommand([...args]), (error: unknown) => error instanceof UsageError && error.message === message, args.join(' '));
  }
});

test('dkim-keygen refuses a bad domain or selector before writing anything', async () => {
  const none = () => assert.fail('nothing is printed');
  await assert.rejects(dkimKeygen({ domain: 'localhost', selector: 's', algorithm: 'rsa', dir: '/nonexistent' }, none, none), /not a domain name: 'localhost'/);
  await assert.rejects(dkimKeygen({ domain: 'a.org', selector: '../s', algorithm: 'rsa', dir: '/nonexistent' }, none, none), /not a selector: '\.\.\/s'/);
});
