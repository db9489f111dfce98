import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { builtinScanners } from '../../src/scan/builtin.js';
import { runCli, writeConfig } from '../helpers/cli.js';
import { services } from '../helpers/services.js';
import { freePort } from '../helpers/sink.js';

const root = path.resolve(import.meta.dirname, '../..');
const fixture = (name: string) => path.join(root, 'fixtures', name);
const scanners = () => [
  { type: 'clamav', host: '127.0.0.1', port: services.clamdPort },
  { type: 'spamassassin', host: '127.0.0.1', port: services.spamdPort },
];
const USAGE_LINE = /^Usage: smtp-scan-proxy \[--config FILE\] \[--check\]$/m;

describe('smtp-scan-proxy scan', () => {
  test('a clean message: both verdicts with their times, pass, exit 0', async () => {
    const result = await runCli(['scan', '--config', await writeConfig({ scanners: scanners() }), fixture('clean.eml')]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^clamav: clean \(\d+ ms\)$/m);
    assert.match(result.stdout, /^spamassassin: score -?\d+\.\d( \[[A-Z0-9_,]+\])? \(\d+ ms\)$/m);
    assert.match(result.stdout, /^decision: pass$/m);
    assert.match(result.stdout, /^reply: the upstream's own reply to the relayed message$/m);
    assert.match(result.stdout, /^header: X-Virus-Scanned: clamav clean at /m);
  });

  test('EICAR: the signature, reject, the 554 a client would get, exit 1', async () => {
    const result = await runCli(['scan', '--config', await writeConfig({ scanners: scanners() }), fixture('eicar-attachment.eml')]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /^clamav: infected: Eicar-[\w.-]+ \(\d+ ms\)$/m);
    assert.match(result.stdout, /^decision: reject \(virus Eicar-[\w.-]+\)$/m);
    assert.match(result.stdout, /^reply: 554 5\.7\.1 Message rejected: virus found: Eicar-[\w.-]+$/m);
  });

  test('GTUBE from standard input: the score, reject, the 550, exit 1', async () => {
    const file = await writeConfig({ scanners: scanners() });
    const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli.ts'), 'scan', '--config', file, '-'], {
      cwd: root,
      input: readFileSync(fixture('gtube.eml')),
      encoding: 'utf8',
    });
    assert.equal(result.status, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /^spamassassin: score 1000\.\d \[[A-Z0-9_,]*GTUBE[A-Z0-9_,]*\] \(\d+ ms\)$/m);
    assert.match(result.stdout, /^reply: 550 5\.7\.1 Message rejected as spam \(score 1000\.\d, limit 10\.0\)$/m);
  });

  test('a scanner down: its error, tempfail, the 451, exit 2', async () => {
    const down = [{ type: 'clamav', host: '127.0.0.1', port: await freePort() }];
    const result = await runCli(['scan', '--config', await writeConfig({ scanners: down }), fixture('clean.eml')]);
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.match(result.stdout, /^clamav: error: unavailable: .+ \(\d+ ms\)$/m);
    assert.match(result.stdout, /^reply: 451 4\.7\.1 Message could not be scanned, please try again later$/m);
  });

  test('observe mode: EICAR passes, saying what would have happened, exit 0', async () => {
    const result = await runCli(['scan', '--config', await writeConfig({ policy: { mode: 'observe' }, scanners: scanners() }), fixture('eicar-attachment.eml')]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^decision: pass \(observe mode; would reject: virus Eicar-[\w.-]+\)$/m);
    assert.match(result.stdout, /^header: X-Scan-Proxy-Observe: would reject: 554 5\.7\.1 Message rejected: virus found: Eicar-[\w.-]+$/m);
  });

  test('a message over limits.maxMessageSize gets our 552, as the proxy would answer it', async () => {
    const result = await runCli(['scan', '--config', await writeConfig({ limits: { maxMessageSize: 100 }, scanners: scanners() }), fixture('clean.eml')]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /^reply: 552 5\.3\.4 Message size exceeds fixed maximum message size$/m);
  });

  test('a file that cannot be read: one line, exit 2', async () => {
    const result = await runCli(['scan', path.join(root, 'fixtures/no-such.eml')]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^scan failed: ENOENT: no such file or directory/);
  });
});

describe('smtp-scan-proxy check-config', () => {
  test('a good file: exit 0; a bad one: exit 78 naming the key', async () => {
    const good = await runCli(['check-config', '--config', await writeConfig({ upstream: { port: 10025 }, scanners: scanners() })]);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /^config ok: .+config\.yaml$/m);
    const bad = await runCli(['check-config', '--config', await writeConfig({ policy: { mode: 'dry-run' }, limits: { maxMesageSize: 10 } })]);
    assert.equal(bad.code, 78);
    assert.match(bad.stderr, /limits\.maxMesageSize: unknown key/);
    assert.match(bad.stderr, /policy\.mode: /);
  });

  test('the machine checks of --check apply: a spool.dir others may write to is refused', async () => {
    const result = await runCli(['check-config', '--config', await writeConfig({ spool: { dir: '/tmp' } })]);
    assert.equal(result.code, 78);
    assert.match(result.stderr, /spool\.dir/);
  });

  test('--print shows the defaults, and what it prints loads back to the same config', async () => {
    const file = await writeConfig({
      upstream: { port: 10025, servers: [{ host: '127.0.0.1', port: 10025 }, { host: '127.0.0.1', port: 10035, priority: 20 }], probeInterval: '2s' },
      scanners: [
        { type: 'clamav', host: '127.0.0.1', port: 3310, timeout: '1500ms' },
        { type: 'clamav', name: 'av2', servers: [{ host: '127.0.0.1', port: 3310 }, { socket: '/run/clamd.sock' }] },
      ],
      // Address ranges are printed as written (they once came out as objects that did not load).
      screening: { access: { allow: ['10.0.0.0/8'], deny: ['192.0.2.7', '2001:db8::/32'] } },
    });
    const result = await runCli(['check-config', '--print', '--config', file]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^ {2}maxMessageSize: 52428800$/m);
    assert.match(result.stdout, /^ {2}scanDeadline: 120s$/m);
    assert.match(result.stdout, /^policy:\n {2}mode: enforce$/m);
    assert.match(result.stdout, /^ {4}timeout: 1500ms$/m);
    assert.match(result.stdout, /^ {2}probeInterval: 2s$/m);
    assert.match(result.stdout, /^ {6}- 10\.0\.0\.0\/8$/m);
    const printed = parseYaml(result.stdout) as Record<string, unknown>;
    const original = parseConfig(parseYaml(readFileSync(file, 'utf8')), builtinScanners);
    assert.deepEqual(parseConfig(printed, builtinScanners), original);
  });
});

describe('the command line', () => {
  test('an unknown option: one line naming it, the usage, exit 64', async () => {
    const result = await runCli(['--frobnicate']);
    assert.equal(result.code, 64);
    const [first, blank] = result.stderr.split('\n');
    assert.equal(first, "smtp-scan-proxy: unknown option '--frobnicate'");
    assert.equal(blank, '');
    assert.match(result.stderr, USAGE_LINE);
    assert.doesNotMatch(result.stderr, /ERR_PARSE_ARGS|at .+\.js:\d+/);
  });

  test('an unexpected argument or command: exit 64 with the usage', async () => {
    for (const [args, line] of [
      [['mail.eml'], "smtp-scan-proxy: unknown command 'mail.eml'"],
      [['check-config', 'extra'], "smtp-scan-proxy: unexpected argument 'extra'"],
      [['scan'], 'smtp-scan-proxy: scan needs a FILE, or - for standard input'],
      [['--config'], "smtp-scan-proxy: option '-c, --config <value>' argument missing"],
    ] as const) {
      const result = await runCli([...args]);
      assert.equal(result.code, 64, args.join(' '));
      assert.equal(result.stderr.split('\n')[0], line);
      assert.match(result.stderr, USAGE_LINE);
    }
  });

  test('--version prints the package version; --help lists the subcommands', async () => {
    const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
    const result = await runCli(['--version']);
    assert.equal(result.code, 0);
    assert.equal(result.stdout, `smtp-scan-proxy ${version}\n`);
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    for (const command of ['scan FILE|-', 'check-config', '--check', '--version']) assert.ok(help.stdout.includes(command), command);
  });
});
