import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../../src/config/load.js';
import { UpstreamClosedError, UpstreamRefusedError, UpstreamUnavailableError } from '../../../src/errors.js';
import { createMetrics } from '../../../src/metrics/registry.js';
import { UpstreamPool } from '../../../src/session/upstream-pool.js';
import type { UpstreamClient, UpstreamOptions } from '../../../src/upstream/client.js';
import { upstreamServers, type UpstreamServerConfig } from '../../../src/upstream/servers-config.js';
import { UpstreamServers } from '../../../src/upstream/servers.js';
import { capturedLogger } from '../../helpers/captured-logger.js';

class FakeClient {
  closed = false;
  constructor(readonly host: string) {}
  async quit(): Promise<void> {
    this.closed = true;
  }
}

const server = (host: string, priority = 10, weight = 1): UpstreamServerConfig => ({ host, port: 25, priority, weight });
const options = { host: 'unused', port: 1, localName: 'proxy.test', connectTimeout: 1000, commandTimeout: 1000, dataTimeout: 1000, tls: { mode: 'off', rejectUnauthorized: false } } as UpstreamOptions;

/** Servers whose hosts in `down` refuse; every attempt is recorded in order. */
function fleet(list: UpstreamServerConfig[], random = Math.random) {
  const down = new Set<string>();
  const attempts: string[] = [];
  const { logger, lines } = capturedLogger();
  const open = async (opts: UpstreamOptions) => {
    attempts.push(opts.host);
    if (down.has(opts.host)) throw new UpstreamUnavailableError(`cannot connect to upstream ${opts.host}:25: ECONNREFUSED`);
    return new FakeClient(opts.host) as unknown as UpstreamClient;
  };
  return { servers: new UpstreamServers(list, open, logger, random), down, attempts, lines };
}

const hostOf = (client: UpstreamClient) => (client as unknown as FakeClient).host;

describe('UpstreamServers', () => {
  test('the best priority takes every session while it answers', async () => {
    const { servers } = fleet([server('backup', 20), server('main', 10)]);
    for (let i = 0; i < 20; i++) assert.equal(hostOf(await servers.connect(options)), 'main');
  });

  test('within one priority, sessions follow the weights', async () => {
    const { servers } = fleet([server('a', 10, 3), server('b', 10, 1)]);
    const counts = { a: 0, b: 0 };
    for (let i = 0; i < 2000; i++) counts[hostOf(await servers.connect(options)) as 'a' | 'b']++;
    // 1500 expected for a; six standard deviations (~19) either side.
    assert.ok(counts.a > 1380 && counts.a < 1620, `a got ${counts.a} of 2000`);
  });

  test('a refusing server fails over to the next at once, is skipped afterwards, and comes back after a passing probe', async (t) => {
    const metrics = createMetrics({ defaults: false });
    t.after(() => metrics.close());
    const up = async () => (await metrics.registry.getSingleMetricAsString('smtp_scan_proxy_upstream_server_up')).split('\n').filter((line) => !line.startsWith('#')).sort();
    const { servers, down, attempts, lines } = fleet([server('main', 10), server('backup', 20)]);
    down.add('main');
    assert.equal(hostOf(await servers.connect(options)), 'backup');
    assert.deepEqual(attempts, ['main', 'backup']);
    assert.equal(hostOf(await servers.connect(options)), 'backup');
    assert.deepEqual(attempts.slice(2), ['backup'], 'a server marked down is not tried while another answers');
    assert.ok(lines.some((line) => line.level === 40 && /upstream main:25 failed; skipped until it passes a probe/.test(String(line.msg))));
    assert.deepEqual(await up(), ['smtp_scan_proxy_upstream_server_up{server="backup:25"} 1', 'smtp_scan_proxy_upstream_server_up{server="main:25"} 0']);

    down.delete('main');
    await servers.probe(options);
    assert.equal(hostOf(await servers.connect(options)), 'main');
    assert.ok(lines.some((line) => /upstream main:25 answers again/.test(String(line.msg))));
    assert.deepEqual(await up(), ['smtp_scan_proxy_upstream_server_up{server="backup:25"} 1', 'smtp_scan_proxy_upstream_server_up{server="main:25"} 1']);
  });

  test('all servers down: one 451 4.4.1 naming each, after trying every one', async () => {
    const { servers, down, attempts } = fleet([server('a'), server('b', 20)]);
    down.add('a').add('b');
    await assert.rejects(servers.connect(options), (error: UpstreamUnavailableError) => {
      assert.equal(error.reply.code, 451);
      assert.equal(error.reply.enhanced, '4.4.1');
      assert.match(error.message, /a:25: .*ECONNREFUSED.*b:25: .*ECONNREFUSED/);
      return true;
    });
    assert.deepEqual(attempts, ['a', 'b']);
    // Both down: still tried (best priority first), since the other choice is a 451 for sure.
    down.delete('b');
    assert.equal(hostOf(await servers.connect(options)), 'b');
  });

  test('a refusal (421 banner) counts as down like a refused connection', async () => {
    const attempts: string[] = [];
    const { logger } = capturedLogger();
    const servers = new UpstreamServers([server('busy'), server('other', 20)], async (opts) => {
      attempts.push(opts.host);
      if (opts.host === 'busy') throw new UpstreamRefusedError('upstream refused the connection: 421 4.3.2 busy', { code: 421, enhanced: '4.3.2', text: 'busy' });
      return new FakeClient(opts.host) as unknown as UpstreamClient;
    }, logger);
    assert.equal(hostOf(await servers.connect(options)), 'other');
    assert.deepEqual(servers.states, [{ label: 'busy:25', healthy: false }, { label: 'other:25', healthy: true }]);
  });

  test('a client that left stops the failover: no other server is tried for it', async () => {
    const { servers, down, attempts } = fleet([server('a'), server('b', 20)]);
    down.add('a');
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(servers.connect({ ...options, signal: controller.signal }), UpstreamUnavailableError);
    assert.deepEqual(attempts, ['a']);
    assert.deepEqual(servers.states.map((state) => state.healthy), [true, true]);
  });

  test('one server: its own error as before, never marked down', async () => {
    const { servers, down } = fleet([server('only')]);
    down.add('only');
    await assert.rejects(servers.connect(options), /only:25: ECONNREFUSED/);
    down.delete('only');
    assert.equal(hostOf(await servers.connect(options)), 'only');
  });

  test('a pooled session to a backup is not handed out once the preferred server is back', async () => {
    const { servers, down } = fleet([server('main', 10), server('backup', 20)]);
    const pool = new UpstreamPool(servers.connect, 4, 10_000, servers.fits);
    down.add('main');
    const first = await pool.acquire(options);
    assert.equal(hostOf(first.client), 'backup');
    await pool.release(first.client, true);
    down.delete('main');
    await servers.probe(options);
    const next = await pool.acquire(options);
    assert.equal(next.reused, false);
    assert.equal(hostOf(next.client), 'main');
    assert.equal(first.client.closed, true, 'the backup session was ended with QUIT');
    await pool.close();
  });

  test('a failed probe marks a server down; errors other than the upstream\'s are not failed over', async () => {
    const { logger } = capturedLogger();
    let broken = false;
    const servers = new UpstreamServers([server('a'), server('b', 20)], async (opts) => {
      if (opts.host === 'a' && broken) throw new UpstreamClosedError('upstream closed the connection');
      if (opts.host === 'a' && !broken) throw new TypeError('a bug');
      return new FakeClient(opts.host) as unknown as UpstreamClient;
    }, logger);
    await assert.rejects(servers.connect(options), TypeError);
    broken = true;
    await servers.probe(options);
    assert.deepEqual(servers.states.map((state) => state.healthy), [false, true]);
  });
});

describe('upstream config', () => {
  test('host and port alone are one server; a list replaces them', () => {
    assert.deepEqual(upstreamServers({ host: 'mx', port: 2525 }), [{ host: 'mx', port: 2525, priority: 0, weight: 1 }]);
    assert.deepEqual(upstreamServers({ host: 'mx', port: 2525, servers: [server('a')] }), [server('a')]);
  });

  test('servers take defaults (port 25, priority 10, weight 1); a bad one names its key', () => {
    const config = parseConfig({ upstream: { servers: [{ host: 'mx1' }, { host: 'mx2', port: 2525, priority: 20, weight: 3 }] } }, new Map());
    assert.deepEqual(config.upstream.servers, [{ host: 'mx1', port: 25, priority: 10, weight: 1 }, { host: 'mx2', port: 2525, priority: 20, weight: 3 }]);
    assert.equal(config.upstream.probeInterval, 10_000);
    assert.throws(() => parseConfig({ upstream: { servers: [{ host: 'mx1', weight: 0 }] } }, new Map()), /upstream\.servers\[0\]\.weight: /);
    assert.throws(() => parseConfig({ upstream: { servers: [{ port: 25 }] } }, new Map()), /upstream\.servers\[0\]\.host: /);
    assert.throws(() => parseConfig({ upstream: { servers: [] } }, new Map()), /upstream\.servers: /);
    assert.throws(() => parseConfig({ upstream: { probeInterval: 0 } }, new Map()), /upstream\.probeInterval: at least 500ms/);
  });
});
