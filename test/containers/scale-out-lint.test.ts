import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { builtinScanners } from '../../src/scan/builtin.js';
import { composeDuration, composeFile, read, root, type ComposeService } from './container-files.js';

/**
 * docker-compose.yml's `scale-out` profile (docs/scale-out.md), checked offline with the rest
 * (`npm run lint:containers`): HAProxy in front of proxy-1 and proxy-2 with one Redis. What
 * the tests run for real is scripts/templates/haproxy.cfg; this holds the compose copy to it.
 */

const compose = composeFile();
const profile = Object.entries(compose.services).filter(([, service]) => service.profiles?.includes('scale-out'));
const instances = ['proxy-1', 'proxy-2'];
const haproxyCfg = read('docker/scale-out/haproxy.cfg');
const configFile = path.join(root, 'docker/scale-out/config.yaml');

function mountedAt(service: ComposeService, target: string): string | undefined {
  const volume = service.volumes?.find((v) => typeof v === 'string' && v.split(':')[1] === target);
  return typeof volume === 'string' ? volume.split(':')[0] : undefined;
}

/** Directives that decide behaviour (balancing, checks, timeouts, retries), in order. */
function behaviour(cfg: string): string[] {
  return cfg.split('\n').map((line) => line.trim()).filter((line) => /^(mode|balance|option|timeout|retries)\b/.test(line));
}

function networksOf(service: ComposeService): string[] {
  return Array.isArray(service.networks) ? service.networks : Object.keys(service.networks ?? {});
}

/** 172.31.245.10 inside 172.31.245.0/24 (IPv4 only: the balancer network is IPv4). */
function inSubnet(address: string, cidr: string): boolean {
  const toInt = (ip: string) => ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  const [base, bits] = cidr.split('/') as [string, string];
  const size = 2 ** (32 - Number(bits));
  return Math.floor(toInt(address) / size) === Math.floor(toInt(base) / size);
}

describe('docker-compose.yml, profile scale-out', () => {
  const services = compose.services;
  const haproxy = services.haproxy!;
  const haproxyAddress = (haproxy.networks as Record<string, { ipv4_address?: string }>).balancer?.ipv4_address;

  test('the profile is HAProxy, two proxy instances and Redis; a plain `docker compose up` starts none of them', () => {
    assert.deepEqual(profile.map(([name]) => name).sort(), ['haproxy', ...instances, 'redis']);
    assert.equal(services.proxy!.profiles, undefined);
  });

  test('HAProxy: its config is docker/scale-out/haproxy.cfg, behaving as the tests\' scripts/templates/haproxy.cfg', () => {
    assert.equal(mountedAt(haproxy, '/usr/local/etc/haproxy/haproxy.cfg'), './docker/scale-out/haproxy.cfg');
    assert.deepEqual(behaviour(haproxyCfg), behaviour(read('scripts/templates/haproxy.cfg')));
    assert.match(haproxyCfg, /^\s*default-server .*\bsend-proxy-v2\b.*\bcheck\b.*\bcheck-send-proxy\b/m);
    assert.match(haproxyCfg, /^\s*option smtpchk EHLO /m);
  });

  test('HAProxy: its servers are the two instances, on the port they listen on', async () => {
    const { config } = await loadConfig(configFile, builtinScanners, {});
    const servers = [...haproxyCfg.matchAll(/^\s*server \S+ (\S+):(\d+)/gm)].map((m) => [m[1], Number(m[2])]);
    assert.deepEqual(servers, instances.map((name) => [name, config.listen.port]));
    const [bind] = /^\s*bind :(\d+)$/m.exec(haproxyCfg)?.slice(1) ?? [];
    assert.ok(haproxy.ports?.includes(`127.0.0.1:2526:${bind}`), `HAProxy's frontend :${bind} is published on 127.0.0.1:2526`);
  });

  test('HAProxy\'s fixed address on the balancer network is the one the instances trust and allow', async () => {
    const subnet = compose.networks?.balancer?.ipam?.config?.[0]?.subnet;
    assert.ok(haproxyAddress && subnet && inSubnet(haproxyAddress, subnet), `${haproxyAddress} in ${subnet}`);
    const { config } = await loadConfig(configFile, builtinScanners, {});
    assert.ok(config.listen.proxyProtocol?.trusted.includes(`${haproxyAddress}/32`), 'trusted for PROXY headers');
    // The balancer's own checks must never count against, and trip, a rate limit.
    const raw = parseYaml(read('docker/scale-out/config.yaml')) as { screening?: { access?: { allow?: string[] } } };
    assert.ok(raw.screening?.access?.allow?.includes(`${haproxyAddress}/32`), 'allow-listed');
    // The image's HEALTHCHECK (--check) connects from inside the container.
    assert.ok(config.listen.proxyProtocol?.trusted.includes('127.0.0.1/32'));
    for (const name of instances) assert.deepEqual(networksOf(services[name]!).sort(), ['balancer', 'default'], name);
  });

  test('the instances: the single proxy\'s image, healthcheck, dependencies and drain, plus Redis for shared limits', async () => {
    const { config } = await loadConfig(configFile, builtinScanners, {});
    assert.equal(config.screening?.rateLimits.store, 'redis');
    assert.equal(new URL(config.screening!.rateLimits.redis.url).hostname, 'redis');
    for (const name of instances) {
      const instance = services[name]!;
      assert.deepEqual(instance.build, services.proxy!.build, name);
      assert.deepEqual(instance.healthcheck?.test, services.proxy!.healthcheck?.test, name);
      assert.equal(mountedAt(instance, '/etc/smtp-scan-proxy/config.yaml'), './docker/scale-out/config.yaml');
      assert.deepEqual(instance.environment, services.proxy!.environment);
      const dependencies = instance.depends_on as Record<string, { condition?: string }>;
      assert.deepEqual(dependencies, { ...(services.proxy!.depends_on as object), redis: { condition: 'service_started' } }, name);
      assert.ok(config.shutdown.timeout + 5000 <= composeDuration(instance.stop_grace_period ?? '10s'), name);
    }
    assert.deepEqual(services.redis!.healthcheck?.test, ['CMD', 'redis-cli', 'ping']);
  });

  // HAProxy itself parses the file when it is installed (scripts/services.sh installs it).
  const haproxyBinary = spawnSync('haproxy', ['-v']).status === 0;
  test('haproxy -c accepts docker/scale-out/haproxy.cfg', { skip: haproxyBinary ? undefined : 'haproxy is not installed' }, () => {
    // Outside a container the bind port may be taken; checking needs no bind, only the file.
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'ssp-haproxy-')), 'haproxy.cfg');
    writeFileSync(file, haproxyCfg);
    try {
      execFileSync('haproxy', ['-c', '-q', '-f', file], { encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: string; stderr?: string };
      assert.fail(`haproxy -c: ${stdout ?? ''}${stderr ?? ''}`);
    }
  });
});
