import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { parseConfig } from '../../../src/config/load.js';
import { builtinScanners } from '../../../src/scan/builtin.js';

const run = promisify(execFile);
const packaging = path.resolve(import.meta.dirname, '../../../packaging');
const unitFile = path.join(packaging, 'smtp-scan-proxy.service');
const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
const skip = has('systemd-analyze') ? undefined : 'systemd-analyze is not installed (apt package systemd)';

/** The values of `key` in the unit, in order. */
function values(unit: string, key: string): string[] {
  return [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((match) => match[1]!);
}

/**
 * The unit as systemd-analyze can check it on a machine where the package is not installed:
 * ExecStart's binary, which verify requires to exist, becomes an executable stub in a temp dir;
 * nothing else changes. `edit` lets a test break the unit on purpose.
 */
async function checkableUnit(edit: (unit: string) => string = (unit) => unit): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ssp-unit-'));
  const stub = path.join(dir, 'smtp-scan-proxy');
  await writeFile(stub, '#!/bin/sh\n');
  await chmod(stub, 0o755);
  const unit = await readFile(unitFile, 'utf8');
  const checkable = path.join(dir, 'smtp-scan-proxy.service');
  await writeFile(checkable, edit(unit.replace(/^ExecStart=\/usr\/bin\/smtp-scan-proxy /m, `ExecStart=${stub} `)));
  return checkable;
}

/** Exit status and everything systemd-analyze said (warnings such as unknown keys go to stderr, status 0). */
async function analyze(args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('systemd-analyze', args);
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

test('systemd-analyze verify accepts the unit without a word', { skip }, async () => {
  const result = await analyze(['verify', '--man=no', await checkableUnit()]);
  assert.deepEqual(result, { code: 0, output: '' });
});

test('systemd-analyze verify is heard: a misspelt key and a missing binary are reported', { skip }, async () => {
  const misspelt = await analyze(['verify', '--man=no', await checkableUnit((unit) => unit.replace('ProtectHome=', 'ProtectHomes='))]);
  assert.match(misspelt.output, /Unknown key 'ProtectHomes'/);
  const missing = await analyze(['verify', '--man=no', await checkableUnit((unit) => unit.replace(/^ExecStart=\S+/m, 'ExecStart=/nonexistent/smtp-scan-proxy'))]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.output, /\/nonexistent\/smtp-scan-proxy is not executable/);
});

test('systemd-analyze security rates the unit\'s exposure 2.0 or lower (OK)', { skip }, async () => {
  const result = await analyze(['security', '--offline=yes', '--threshold=20', await checkableUnit()]);
  assert.equal(result.code, 0, result.output.split('\n').filter((line) => line.includes('Overall')).join('\n'));
});

test('the unit holds what the issue asks of it', async () => {
  const unit = await readFile(unitFile, 'utf8');
  assert.deepEqual(values(unit, 'ExecStart'), ['/usr/bin/smtp-scan-proxy --config /etc/smtp-scan-proxy/config.yaml']);
  assert.deepEqual(values(unit, 'ExecReload'), ['/bin/kill -HUP $MAINPID']);
  assert.deepEqual(values(unit, 'User'), ['smtp-scan-proxy']);
  assert.deepEqual(values(unit, 'ProtectSystem'), ['strict']);
  assert.deepEqual(values(unit, 'ReadWritePaths'), ['/var/spool/smtp-scan-proxy']);
  assert.deepEqual(values(unit, 'AmbientCapabilities'), ['CAP_NET_BIND_SERVICE']);
  assert.deepEqual(values(unit, 'CapabilityBoundingSet'), ['CAP_NET_BIND_SERVICE']);
  assert.deepEqual(values(unit, 'LimitNOFILE'), ['65536']);
  assert.deepEqual(values(unit, 'Restart'), ['on-failure']);
  // The exit status of an invalid config (src/cli.ts): no restart loop on a typo.
  assert.deepEqual(values(unit, 'RestartPreventExitStatus'), ['78']);
});

test('the example config is valid and spools where the unit may write', async () => {
  const config = parseConfig(parse(await readFile(path.join(packaging, 'config.yaml'), 'utf8')), builtinScanners);
  const unit = await readFile(unitFile, 'utf8');
  assert.deepEqual([config.spool.dir], values(unit, 'ReadWritePaths'));
  assert.equal(config.listen.port, 25);
  assert.ok(config.shutdown.timeout < 90_000, 'shutdown.timeout stays under TimeoutStopSec=90s');
  assert.deepEqual(values(unit, 'TimeoutStopSec'), ['90s']);
});

test('sysusers.d and tmpfiles.d make the account and a spool the proxy accepts (owned by it, mode 700)', {
  skip: has('systemd-sysusers') && has('systemd-tmpfiles') ? undefined : 'systemd-sysusers or systemd-tmpfiles is not installed (apt package systemd)',
}, async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'ssp-root-'));
  await mkdir(path.join(root, 'etc'));
  await run('systemd-sysusers', [`--root=${root}`, path.join(packaging, 'smtp-scan-proxy.sysusers')]);
  const account = (await readFile(path.join(root, 'etc/passwd'), 'utf8')).split('\n').find((line) => line.startsWith('smtp-scan-proxy:'));
  assert.ok(account, 'systemd-sysusers created the account');
  const [, , uid, , , , shell] = account.split(':');
  assert.equal(shell, '/usr/sbin/nologin');
  await run('systemd-tmpfiles', [`--root=${root}`, '--create', path.join(packaging, 'smtp-scan-proxy.tmpfiles')]);
  const spool = await stat(path.join(root, 'var/spool/smtp-scan-proxy'));
  assert.ok(spool.isDirectory());
  assert.equal(spool.uid, Number(uid));
  assert.equal(spool.mode & 0o7777, 0o700);
});
