import assert from 'node:assert/strict';
import { chmod, chown, mkdir, mkdtemp, readdir, readlink, rm, stat, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { clean } from '../../src/scan/verdict.js';
import type { SpooledMessage } from '../../src/spool/message.js';
import { fakeScanner } from '../conformance/fake-scanners.js';
import { checkoutUnreadableBy, runCli, spawnCli, writeConfig } from '../helpers/cli.js';
import { startTestProxy } from '../helpers/proxy.js';
import { bodyOf, headerOf, services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';

const NOBODY = 65534;
const notRoot = process.getuid!() === 0 ? false : 'needs root (a directory owned by nobody; a proxy started as nobody)';

async function readAll(message: SpooledMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of message.createReadStream()) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** This process's open files that had a name in `dir`. */
async function openFilesFrom(dir: string): Promise<string[]> {
  const targets = await Promise.all((await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
  return targets.filter((target) => target.startsWith(`${dir}/`));
}

describe('a spool no other user can touch', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });
  async function tempDir(prefix: string): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  test('a spool.dir another user could change stops the proxy with exit 78, and --check too', { skip: notRoot }, async () => {
    const base = await tempDir('ssp-bad-spool-');
    const worldWritable = path.join(base, 'world-writable');
    await mkdir(worldWritable);
    await chmod(worldWritable, 0o777);
    const foreign = path.join(base, 'foreign');
    await mkdir(foreign, { mode: 0o700 });
    await chown(foreign, NOBODY, NOBODY);
    const link = path.join(base, 'link');
    const ours = path.join(base, 'ours');
    await mkdir(ours, { mode: 0o700 });
    await symlink(ours, link);
    const cases = [
      [worldWritable, /is writable by its group \(mode 0777\)/],
      [foreign, /is owned by uid 65534, not by the user the proxy runs as, uid 0/],
      [link, /is a symlink/],
    ] as const;
    for (const [dir, what] of cases) {
      const file = await writeConfig({ workers: 1, listen: { port: 0 }, spool: { dir } });
      for (const args of [['--config', file], ['--check', '--config', file]]) {
        const result = await runCli(args);
        assert.equal(result.code, 78, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
        assert.match(result.stderr, new RegExp(`^spool\\.dir: ${dir} ${what.source}`, 'm'));
      }
    }
  });

  test('a message is relayed intact although its spool file was unlinked as soon as it was made: every reader uses the handle', async () => {
    const seen: { names?: string[]; open?: string[]; bytes?: Buffer } = {};
    let spoolDir = '';
    const watcher = fakeScanner('spool-watcher', async (message) => {
      seen.names = await readdir(spoolDir);
      seen.open = await openFilesFrom(spoolDir);
      seen.bytes = await readAll(message);
      return clean;
    });
    const proxy = await startTestProxy(
      {
        upstream: { port: services.postfixPort },
        spool: { memoryPerMessage: 1024 },
        scanners: [{ type: 'spool-watcher' }, { type: 'clamav', host: '127.0.0.1', port: services.clamdPort }],
      },
      { factories: new Map([['spool-watcher', watcher]]) },
    );
    cleanup.push(() => proxy.stop(1000));
    spoolDir = proxy.spoolDir;
    const { address, tag } = taggedAddress();
    const message = `Subject: ${tag}\r\n\r\n${Array.from({ length: 5000 }, (_, i) => `line ${i} of a message that lives in a file\r\n`).join('')}`;
    const client = await SmtpTestClient.afterEhlo(proxy.port);
    const result = await client.send('sender@client.example.net', [address], message);
    await client.quit();
    assert.equal(result.final?.code, 250, result.final?.last);
    assert.deepEqual(seen.names, [], 'no name in the spool directory while the message is scanned');
    assert.equal(seen.open?.length, 1, 'but one open file that was there');
    assert.match(seen.open[0]!, / \(deleted\)$/);
    assert.equal(seen.bytes?.toString(), message);
    const [delivered] = await waitForDelivery('alice', tag);
    assert.ok(delivered, 'delivered');
    assert.equal(bodyOf(delivered), message.slice(message.indexOf('\r\n\r\n') + 4).replace(/\r\n/g, '\n'));
    assert.match(headerOf(delivered, 'X-Virus-Scanned') ?? '', /clamav/);
    assert.deepEqual(await openFilesFrom(spoolDir), [], 'closed once relayed');
  });

  test('started as another user without spool.dir, it makes a fresh private directory of its own, removed at stop', { skip: notRoot || checkoutUnreadableBy(NOBODY) }, async () => {
    const file = await writeConfig({
      workers: 1,
      listen: { port: 0, hostname: 'proxy.example.test', reverseLookup: false },
      limits: { greetDelay: 0 },
      upstream: { port: services.postfixPort },
      spool: { memoryPerMessage: 1024 },
    });
    await chmod(path.dirname(file), 0o755);
    const proxy = spawnCli(file, { uid: NOBODY, gid: NOBODY });
    cleanup.push(() => proxy.stop('SIGKILL'));
    const started = await proxy.listening;
    assert.match(started.spool, new RegExp(`^${os.tmpdir()}/smtp-scan-proxy-\\w{6}$`));
    const stats = await stat(started.spool);
    assert.equal(stats.uid, NOBODY);
    assert.equal(stats.mode & 0o777, 0o700);

    const { address, tag } = taggedAddress();
    const client = await SmtpTestClient.afterEhlo(started.listen.port);
    const result = await client.send('sender@client.example.net', [address], `Subject: ${tag}\r\n\r\n${'x'.repeat(4000)}\r\n`);
    await client.quit();
    assert.equal(result.final?.code, 250, result.final?.last);
    assert.equal((await waitForDelivery('alice', tag)).length, 1);
    assert.equal(await proxy.stop(), 0);
    await assert.rejects(stat(started.spool), { code: 'ENOENT' });
  });
});
