import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CONFIG_ENV, loadConfig, parseConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/errors.js';

const none = new Map();
const parse = (raw: unknown) => parseConfig(raw, none);

/** Asserts that parsing fails with a ConfigError whose message matches every pattern. */
function rejects(raw: unknown, ...patterns: RegExp[]): void {
  assert.throws(
    () => parse(raw),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `not a ConfigError: ${String(error)}`);
      assert.equal(error.code, 'SSP_ERR_CONFIG');
      for (const pattern of patterns) assert.match(error.message, pattern);
      return true;
    },
  );
}

describe('built-in defaults', () => {
  const config = parse({});

  test('listen on 127.0.0.1:2525, relay to 127.0.0.1:25 with XCLIENT', () => {
    assert.equal(config.listen.host, '127.0.0.1');
    assert.equal(config.listen.port, 2525);
    assert.equal(config.listen.hostname, os.hostname());
    assert.equal(config.upstream.host, '127.0.0.1');
    assert.equal(config.upstream.port, 25);
    assert.equal(config.upstream.xclient, true);
    assert.equal(config.upstream.starttls, 'opportunistic');
    assert.equal(config.upstream.helo, undefined);
  });

  test('limits: 50 MiB messages, 1000 clients (50 per address), 100 ms greeting pause, bare LF normalized', () => {
    assert.deepEqual(config.limits, {
      maxMessageSize: 52_428_800,
      maxClients: 1000,
      maxClientsPerIp: 50,
      maxRecipients: 1000,
      maxLineLength: 4096,
      maxErrors: 20,
      idleTimeout: 300_000,
      dataTimeout: 600_000,
      scanDeadline: 120_000,
      bareLineFeed: 'normalize',
      greetDelay: 100,
    });
  });

  test('upstream timeouts in milliseconds; no TLS listener, no scanners, no plugins', () => {
    assert.equal(config.upstream.connectTimeout, 30_000);
    assert.equal(config.upstream.commandTimeout, 120_000);
    assert.equal(config.upstream.dataTimeout, 300_000);
    assert.equal(config.upstream.keepAlive, 60_000);
    assert.equal(config.tls, undefined);
    assert.deepEqual(config.scanners, []);
    assert.deepEqual(config.plugins, []);
    assert.equal(config.log.level, 'info');
    assert.equal(config.shutdown.timeout, 30_000);
    assert.equal(config.spool.memoryPerMessage, 1024 * 1024);
  });

  test('a section given in part keeps the defaults of its other keys', () => {
    const partial = parse({ upstream: { port: 10025 } });
    assert.equal(partial.upstream.port, 10025);
    assert.equal(partial.upstream.host, '127.0.0.1');
    assert.equal(partial.upstream.xclient, true);
  });
});

describe('units in the config', () => {
  test('durations and sizes are read with their units; bare numbers are seconds', () => {
    const config = parse({
      limits: { greetDelay: '250ms', idleTimeout: '5m', scanDeadline: 30, maxMessageSize: '512KiB' },
      upstream: { commandTimeout: '30s' },
      spool: { memoryTotal: '50MB' },
    });
    assert.equal(config.limits.greetDelay, 250);
    assert.equal(config.limits.idleTimeout, 300_000);
    assert.equal(config.limits.scanDeadline, 30_000);
    assert.equal(config.limits.maxMessageSize, 524_288);
    assert.equal(config.upstream.commandTimeout, 30_000);
    assert.equal(config.spool.memoryTotal, 50_000_000);
  });

  test('a bad duration or size names its key', () => {
    rejects({ limits: { greetDelay: 'soon' } }, /limits\.greetDelay: not a duration/);
    rejects({ limits: { maxMessageSize: '50XB' } }, /limits\.maxMessageSize: not a size/);
  });
});

describe('invalid configuration', () => {
  test('an unknown key is an error that names it', () => {
    rejects({ listen: { prot: 25 } }, /^listen\.prot: unknown key$/m);
    rejects({ colour: 'blue' }, /^colour: unknown key$/m);
  });

  test('every problem is listed, each with its key', () => {
    rejects({ listen: { prot: 25 }, upstream: { port: 'x' } }, /^listen\.prot: unknown key$/m, /^upstream\.port: /m);
  });

  test('a wrong type names the key', () => {
    rejects({ limits: { maxClients: 'many' } }, /^limits\.maxClients: .*number/m);
    rejects({ upstream: { xclient: 'yes' } }, /^upstream\.xclient: .*boolean/m);
    rejects({ upstream: { port: 70_000 } }, /^upstream\.port: /m);
    rejects({ limits: { bareLineFeed: 'drop' } }, /^limits\.bareLineFeed: /m);
    rejects({ plugins: 'x.mjs' }, /^plugins: /m);
  });

  test('a config that is not a mapping is reported at the top level', () => {
    rejects('hello', /\(top level\): /);
    rejects([1], /\(top level\): /);
  });
});

describe('the result is frozen', () => {
  test('changing any level of it throws (ESM code is strict)', () => {
    const config = parse({ scanners: [] });
    assert.throws(() => {
      (config as { listen: unknown }).listen = {};
    }, TypeError);
    assert.throws(() => {
      (config.limits as { maxClients: number }).maxClients = 1;
    }, TypeError);
    assert.throws(() => (config.plugins as string[]).push('x'), TypeError);
    assert.equal(config.limits.maxClients, 1000);
  });
});

describe('loadConfig', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ssp-config-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const file = async (name: string, text: string) => {
    const target = path.join(dir, name);
    await writeFile(target, text);
    return target;
  };

  test('reads YAML from the named file', async () => {
    const target = await file('a.yaml', 'listen:\n  port: 2600\nlimits:\n  greetDelay: 2s\n');
    const { config } = await loadConfig(target, none, {});
    assert.equal(config.listen.port, 2600);
    assert.equal(config.limits.greetDelay, 2000);
  });

  test('without a file it reads the one SMTP_SCAN_PROXY_CONFIG names', async () => {
    const target = await file('env.yaml', 'upstream:\n  port: 10025\n');
    assert.equal(CONFIG_ENV, 'SMTP_SCAN_PROXY_CONFIG');
    const { config } = await loadConfig(undefined, none, { [CONFIG_ENV]: target });
    assert.equal(config.upstream.port, 10025);
  });

  test('a named file wins over the environment variable', async () => {
    const named = await file('named.yaml', 'upstream:\n  port: 1\n');
    const fromEnv = await file('other.yaml', 'upstream:\n  port: 2\n');
    const { config } = await loadConfig(named, none, { [CONFIG_ENV]: fromEnv });
    assert.equal(config.upstream.port, 1);
  });

  test('neither file nor variable: the built-in defaults', async () => {
    const { config } = await loadConfig(undefined, none, {});
    assert.equal(config.listen.port, 2525);
  });

  test('an empty file is the defaults', async () => {
    const { config } = await loadConfig(await file('empty.yaml', ''), none, {});
    assert.equal(config.upstream.port, 25);
  });

  test('a missing file is a ConfigError naming the file', async () => {
    const missing = path.join(dir, 'nope.yaml');
    await assert.rejects(loadConfig(missing, none, {}), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /cannot read .*nope\.yaml/);
      return true;
    });
  });

  test('a YAML syntax error is a ConfigError naming the file', async () => {
    const broken = await file('broken.yaml', 'listen:\n  port: [2525\n');
    await assert.rejects(loadConfig(broken, none, {}), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /broken\.yaml is not valid YAML/);
      return true;
    });
  });

  test('keys in a file are checked like any other', async () => {
    const typo = await file('typo.yaml', 'listen:\n  prot: 2525\n');
    await assert.rejects(loadConfig(typo, none, {}), /listen\.prot: unknown key/);
  });
});
