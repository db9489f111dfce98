import assert from 'node:assert/strict';
import { chmod, chown, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RunAs } from '../../../src/privileges.js';
import { prepareSpoolDir, sharedSpoolDir, SYSTEM_SPOOL_DIR } from '../../../src/spool/spool-dir.js';

const NOBODY = 65534;
const notRoot = process.getuid!() === 0 ? false : 'needs root (chown to nobody)';
const self: RunAs = { uid: process.getuid!(), gid: process.getgid!(), name: `uid ${process.getuid!()}`, serviceUser: false, switching: false };
/** Root that switches to nobody once it listens (`user: nobody`). */
const nobody: RunAs = { uid: NOBODY, gid: NOBODY, name: `nobody (uid ${NOBODY})`, serviceUser: false, switching: true };

/** Asserts a ConfigError (exit 78) whose message names spool.dir and matches `what`. */
function refusedFor(what: RegExp) {
  return (error: { code?: string; message: string }) => {
    assert.equal(error.code, 'SSP_ERR_CONFIG');
    assert.match(error.message, /^spool\.dir: /);
    assert.match(error.message, what);
    return true;
  };
}

describe('the spool directory', () => {
  let base: string;
  before(async () => {
    base = await mkdtemp(path.join(os.tmpdir(), 'ssp-spool-dir-'));
    // Others may pass through (not list, not write): as a spool's parent usually is.
    await chmod(base, 0o711);
  });
  after(() => rm(base, { recursive: true, force: true }));
  let count = 0;
  const fresh = () => path.join(base, `d${++count}`);

  test('a missing one is created, mode 700, owned by the proxy\'s user', async () => {
    const dir = path.join(fresh(), 'spool');
    assert.deepEqual(await prepareSpoolDir(dir, self), { dir, temporary: false });
    const stats = await stat(dir);
    assert.equal(stats.mode & 0o777, 0o700);
    assert.equal(stats.uid, self.uid);
  });

  test('started as root with user: nobody, a missing one is created for nobody', { skip: notRoot }, async () => {
    const dir = fresh();
    await prepareSpoolDir(dir, nobody);
    const stats = await stat(dir);
    assert.equal(stats.mode & 0o777, 0o700);
    assert.equal(stats.uid, NOBODY);
    assert.equal(stats.gid, NOBODY);
  });

  test('one owned by another user (nobody) is refused', { skip: notRoot }, async () => {
    const dir = fresh();
    await mkdir(dir, { mode: 0o700 });
    await chown(dir, NOBODY, NOBODY);
    await assert.rejects(prepareSpoolDir(dir, self), refusedFor(/is owned by uid 65534, not by the user the proxy runs as/));
  });

  test('one others may write to is refused, even the proxy user\'s own', async () => {
    const dir = fresh();
    await mkdir(dir);
    await chmod(dir, 0o777);
    await assert.rejects(prepareSpoolDir(dir, self), refusedFor(/is writable by its group \(mode 0777\); make it private .*chmod 700/));
    await chmod(dir, 0o703);
    await assert.rejects(prepareSpoolDir(dir, self), refusedFor(/is writable by others \(mode 0703\)/));
  });

  test('a symlink is refused, even to a private directory of the proxy\'s user', async () => {
    const target = fresh();
    await mkdir(target, { mode: 0o700 });
    const link = fresh();
    await symlink(target, link);
    await assert.rejects(prepareSpoolDir(link, self), refusedFor(/is a symlink/));
  });

  test('a file is refused', async () => {
    const file = fresh();
    await writeFile(file, '');
    await assert.rejects(prepareSpoolDir(file, self), refusedFor(/is not a directory/));
  });

  test('nobody\'s own directory that nobody cannot reach (a parent of mode 700) is refused for nobody', { skip: notRoot }, async () => {
    const parent = fresh();
    await mkdir(parent, { mode: 0o700 });
    const dir = path.join(parent, 'spool');
    await mkdir(dir, { mode: 0o700 });
    await chown(dir, NOBODY, NOBODY);
    await assert.rejects(prepareSpoolDir(dir, nobody), refusedFor(/is not a writable directory for nobody \(uid 65534\)/));
    await chmod(parent, 0o711);
    await prepareSpoolDir(dir, nobody);
  });

  test('the default, shared by all processes of one start: spool.dir, else the system spool for root and the service user', async () => {
    assert.equal(sharedSpoolDir('/srv/spool', nobody), '/srv/spool');
    assert.equal(sharedSpoolDir(undefined, { ...self, uid: NOBODY, serviceUser: true }), SYSTEM_SPOOL_DIR);
    // Anyone else: none shared (each process makes its own; see test/integration/spool-private.test.ts).
    assert.equal(sharedSpoolDir(undefined, self), process.getuid!() === 0 ? SYSTEM_SPOOL_DIR : undefined);
  });
});
