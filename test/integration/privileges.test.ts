import assert from 'node:assert/strict';
import { chmod, chown, copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { startProxyProcess } from '../helpers/proxy-process.js';
import { services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { checkoutUnreadableBy, runCli, spawnCli, writeConfig } from '../helpers/cli.js';

const NOBODY = 65534;
const notRoot = process.getuid!() === 0 ? false : 'needs root: the proxy is started as root and drops to nobody';

/** Real, effective, saved and filesystem ids, and the group list, of a process. */
async function idsOf(pid: number): Promise<{ uid: number[]; gid: number[]; groups: number[] }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const numbers = (key: string) => (new RegExp(`^${key}:(.*)$`, 'm').exec(status)?.[1] ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
  return { uid: numbers('Uid'), gid: numbers('Gid'), groups: numbers('Groups') };
}

async function childrenOf(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
  return text.trim().split(/\s+/).filter(Boolean).map(Number);
}

/** Polls until `check` passes (the primary drops root only once every worker listens). */
async function eventually(check: () => Promise<void>, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

describe('started as root', { skip: notRoot }, () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  test('with user: nobody, the primary and its workers run as nobody once they listen, mail reaches Postfix, and a dead worker is replaced', async (t) => {
    const spool = await mkdtemp(path.join(os.tmpdir(), 'ssp-nobody-spool-'));
    await chown(spool, NOBODY, NOBODY);
    cleanup.push(() => rm(spool, { recursive: true, force: true }));
    // A key only nobody can read (the check is for the user the proxy runs as, not for root).
    const key = path.join(spool, 'key.pem');
    await copyFile(services.tls.key, key);
    await chown(key, NOBODY, NOBODY);
    await chmod(key, 0o600);
    const file = await writeConfig({
      workers: 2,
      user: 'nobody',
      tls: { key, cert: services.tls.cert },
      listen: { port: 0, hostname: 'proxy.example.test', reverseLookup: false },
      upstream: { port: services.postfixPort },
      limits: { greetDelay: 0 },
      // A file for every message: nobody writes the spool.
      spool: { dir: spool, memoryPerMessage: 1024 },
    });
    // Workers that replace dead ones read it as nobody.
    await chmod(path.dirname(file), 0o755);
    const proxy = spawnCli(file);
    cleanup.push(() => proxy.stop('SIGKILL'));
    const { port } = (await proxy.listening).listen;
    const primary = proxy.child.pid!;
    const asNobody = { uid: [NOBODY, NOBODY, NOBODY, NOBODY], gid: [NOBODY, NOBODY, NOBODY, NOBODY], groups: [NOBODY] };
    let workers: number[] = [];
    await eventually(async () => {
      workers = await childrenOf(primary);
      assert.equal(workers.length, 2);
      for (const pid of [primary, ...workers]) assert.deepEqual(await idsOf(pid), asNobody, `process ${pid}`);
    });

    const body = 'spooled by nobody\r\n'.repeat(200);
    const send = async (tag: string, address: string) => {
      const client = await SmtpTestClient.afterEhlo(port);
      const result = await client.send('sender@client.example.net', [address], `Subject: ${tag}\r\n\r\n${body}`);
      await client.quit();
      assert.equal(result.final?.code, 250, result.final?.last);
    };
    const first = taggedAddress();
    for (let i = 0; i < 2; i++) await send(first.tag, first.address);
    const delivered = await waitForDelivery('alice', first.tag, 2);
    assert.equal(delivered.length, 2);
    assert.ok(delivered.every((message) => message.includes(body.replace(/\r\n/g, '\n'))));

    // A replacement forked as nobody loads the proxy's code as nobody: not from a checkout
    // nobody cannot reach (a clone under /root), so that part is skipped there.
    const unreadable = checkoutUnreadableBy(NOBODY);
    if (unreadable) {
      t.skip(`the dead-worker part: ${unreadable}`);
      assert.equal(await proxy.stop(), 0);
      return;
    }
    // Its replacement is forked by the dropped primary: nobody from the start, checks passed.
    process.kill(workers[0]!, 'SIGKILL');
    await eventually(async () => {
      const now = await childrenOf(primary);
      assert.equal(now.length, 2);
      assert.ok(!now.includes(workers[0]!));
      for (const pid of now) assert.deepEqual(await idsOf(pid), asNobody, `process ${pid}`);
      // Listening: both workers take connections again.
      assert.equal(proxy.logs.filter((line) => line.listen).length, 3);
    });
    const second = taggedAddress();
    for (let i = 0; i < 4; i++) await send(second.tag, second.address);
    assert.equal((await waitForDelivery('alice', second.tag, 4)).length, 4);
    // The dropped primary can still stop the workers it forked as root.
    assert.equal(await proxy.stop(), 0);
  });

  test('without user, it warns at start-up naming the key', async () => {
    const proxy = await startProxyProcess({ upstream: { port: services.postfixPort } });
    cleanup.push(() => proxy.stop());
    const warning = proxy.logs.find((line) => line.level === 40 && line.key === 'user');
    assert.ok(warning, 'a warning with key "user"');
    assert.match(String(warning.msg), /running as root: set "user"/);
    assert.equal((await idsOf(proxy.pid)).uid[0], 0);
  });

  test('a TLS key or config file nobody cannot read stops it with exit 78, naming the key or file; so does an unknown user', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ssp-tls-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const key = path.join(dir, 'key.pem');
    await copyFile(services.tls.key, key);
    const spool = path.join(dir, 'spool');
    const tls = { key, cert: services.tls.cert };
    const unreadable = await runCli(['--config', await writeConfig({ user: 'nobody', tls, spool: { dir: spool } })]);
    assert.equal(unreadable.code, 78, unreadable.stderr);
    assert.match(unreadable.stderr, new RegExp(`^tls\\.key: ${key} cannot be read by nobody \\(uid 65534\\)$`, 'm'));
    // With workers, the config file too: a worker that replaces a dead one reads it as nobody.
    const privateConfig = await writeConfig({ user: 'nobody', workers: 2, spool: { dir: spool } });
    const unreadableConfig = await runCli(['--config', privateConfig]);
    assert.equal(unreadableConfig.code, 78, unreadableConfig.stderr);
    assert.match(unreadableConfig.stderr, new RegExp(`^config: ${privateConfig} cannot be read by nobody \\(uid 65534\\)`, 'm'));
    const unknown = await runCli(['--config', await writeConfig({ user: 'no-such-user-here' })]);
    assert.equal(unknown.code, 78, unknown.stderr);
    assert.match(unknown.stderr, /^user: no user "no-such-user-here" on this system$/m);
  });
});
