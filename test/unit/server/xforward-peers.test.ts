import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../../src/config/load.js';
import { builtinScanners } from '../../../src/scan/builtin.js';
import { XforwardPeers } from '../../../src/server/xforward-peers.js';

describe('XforwardPeers', () => {
  test('ranges and single addresses, IPv4-mapped peers included', () => {
    const peers = new XforwardPeers({ trusted: ['127.0.0.0/8', '2001:db8::1'] });
    assert.ok(peers.trusts('127.0.0.1'));
    assert.ok(peers.trusts('::ffff:127.0.0.9'));
    assert.ok(peers.trusts('2001:db8::1'));
    assert.ok(!peers.trusts('2001:db8::2'));
    assert.ok(!peers.trusts('192.0.2.1'));
    assert.ok(!peers.trusts('not an address'));
  });

  test('the list smtp-server reads holds the trusted peers connected now, each once', () => {
    const peers = new XforwardPeers({ trusted: ['10.0.0.0/8'] });
    assert.equal(peers.admit('192.0.2.1'), false);
    assert.ok(peers.admit('10.1.1.1'));
    assert.ok(peers.admit('10.1.1.1'));
    assert.ok(peers.admit('10.2.2.2'));
    assert.deepEqual(peers.addresses, ['10.1.1.1', '10.2.2.2']);
    peers.release('10.1.1.1');
    assert.deepEqual(peers.addresses, ['10.1.1.1', '10.2.2.2'], 'one connection of 10.1.1.1 is still open');
    peers.release('10.1.1.1');
    peers.release('192.0.2.1');
    assert.deepEqual(peers.addresses, ['10.2.2.2']);
  });
});

describe('listen.xforward in the config', () => {
  const parse = (raw: Record<string, unknown>) => parseConfig(raw, builtinScanners);

  test('a range with host bits set is refused, naming the key', () => {
    assert.throws(() => parse({ listen: { xforward: { trusted: ['127.0.0.1/8'] } } }), /listen\.xforward\.trusted\[0\]: host bits set in "127\.0\.0\.1\/8" \(the network is 127\.0\.0\.0\/8\)/);
  });

  test('smtpdProxyTimeout must exceed scanDeadline + 2 x commandTimeout + dataTimeout (defaults: 660 s)', () => {
    assert.throws(
      () => parse({ listen: { xforward: { trusted: ['127.0.0.1'], smtpdProxyTimeout: '100s' } } }),
      /listen\.xforward\.smtpdProxyTimeout: 100s is not more than limits\.scanDeadline \(120s\) \+ 2 x upstream\.commandTimeout \(120s\) \+ upstream\.dataTimeout \(300s\) = 660s/,
    );
  });

  test('and connectTimeout + commandTimeout, for the reply to MAIL', () => {
    assert.throws(
      () => parse({
        listen: { xforward: { trusted: ['127.0.0.1'], smtpdProxyTimeout: '100s' } },
        limits: { scanDeadline: '30s' },
        upstream: { connectTimeout: '90s', commandTimeout: '10s', dataTimeout: '20s' },
      }),
      /upstream\.connectTimeout \(90s\) \+ upstream\.commandTimeout \(10s\) = 100s/,
    );
  });

  test('in a list of listeners, the entry that states it is named', () => {
    assert.throws(
      () => parse({ listen: [{ port: 25 }, { port: 10031, xforward: { trusted: ['127.0.0.1'], smtpdProxyTimeout: '100s' } }] }),
      /listen\[1\]\.xforward\.smtpdProxyTimeout: 100s is not more than/,
    );
  });

  test('timeouts that fit are taken', () => {
    const config = parse({
      listen: { xforward: { trusted: ['127.0.0.1'], smtpdProxyTimeout: '100s' } },
      limits: { scanDeadline: '40s' },
      upstream: { connectTimeout: '10s', commandTimeout: '10s', dataTimeout: '30s' },
    });
    assert.equal(config.limits.scanDeadline, 40_000);
  });
});
