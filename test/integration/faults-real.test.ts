import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { largeCleanMessage } from '../../fixtures/large-message.js';
import { nothingDelivered, services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { freePort } from '../helpers/sink.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Mounting needs root; without it the spool cases are skipped with this reason. */
async function canMount(): Promise<string | undefined> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ssp-mount-probe-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
    await run('umount', [dir]);
    return undefined;
  } catch (error) {
    return `cannot mount a small tmpfs here (needs root): ${(error as Error).message.split('\n')[0]}`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function transaction(port: number, address: string, message: string | Buffer) {
  const client = await SmtpTestClient.afterEhlo(port);
  try {
    return await client.send('sender@client.example.net', [address], message);
  } finally {
    await client.quit();
  }
}

describe('faults of real daemons and of the disk', async () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });
  async function proxy(raw: Record<string, unknown>): Promise<TestProxy> {
    const started = await startTestProxy({ upstream: { port: services.postfixPort }, ...raw });
    cleanup.push(() => started.stop(1000));
    return started;
  }
  const mountSkip = await canMount();

  test('clamd killed mid-scan: 451 4.7.1, nothing delivered, the next message is served', async () => {
    // A clamd of our own (scripts/, another run dir and port), so killing it harms nobody.
    const runDir = await mkdtemp(path.join(os.tmpdir(), 'ssp-clamd-'));
    const port = await freePort();
    const env = { ...process.env, SSP_RUN_DIR: runDir, SSP_CLAMD_PORT: String(port), SSP_CLAMD_SOCKET: path.join(runDir, 'clamd.sock'), SSP_SKIP_INSTALL: '1' };
    await run(path.join(root, 'scripts/services.sh'), ['start', 'clamd'], { env });
    cleanup.push(async () => {
      await run(path.join(root, 'scripts/services.sh'), ['stop', 'clamd'], { env }).catch(() => undefined);
      await rm(runDir, { recursive: true, force: true });
    });
    const pid = Number((await readFile(path.join(runDir, 'clamd/clamd.pid'), 'utf8')).trim());
    const withClamd = await proxy({ scanners: [{ type: 'clamav', host: '127.0.0.1', port, timeout: '20s' }] });
    const { address, tag } = taggedAddress();
    const client = await SmtpTestClient.afterEhlo(withClamd.port);
    assert.equal((await client.command('MAIL FROM:<sender@client.example.net>')).code, 250);
    assert.equal((await client.command(`RCPT TO:<${address}>`)).code, 250);
    assert.equal((await client.command('DATA')).code, 354);
    // Frozen, clamd still accepts the upload into its socket buffers: the scan is under way
    // when it dies.
    process.kill(pid, 'SIGSTOP');
    client.write(Buffer.concat([largeCleanMessage(8 * 1024 * 1024, tag), Buffer.from('.\r\n')]));
    await sleep(500);
    process.kill(pid, 'SIGKILL');
    const final = await client.read(30_000);
    await client.quit();
    assert.match(final.last, /^451 4\.7\.1 /);
    assert.ok(await nothingDelivered('alice', tag));
    // The proxy goes on: with a working clamd the same kind of message passes.
    const healthy = await proxy({ scanners: [{ type: 'clamav', host: '127.0.0.1', port: services.clamdPort }] });
    const next = taggedAddress();
    assert.equal((await transaction(healthy.port, next.address, `Subject: ${next.tag}\r\n\r\nafter the crash\r\n`)).final?.code, 250);
  });

  test('spamd replying garbage: 451 4.7.1, nothing delivered', async () => {
    const garbage = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n\x00\x01garbage'));
    });
    await new Promise<void>((resolve) => garbage.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => garbage.close(resolve)));
    const port = (garbage.address() as net.AddressInfo).port;
    const withSpamd = await proxy({ scanners: [{ type: 'spamassassin', host: '127.0.0.1', port }] });
    const { address, tag } = taggedAddress();
    const result = await transaction(withSpamd.port, address, `Subject: ${tag}\r\n\r\nhello\r\n`);
    assert.match(result.final!.last, /^451 4\.7\.1 /);
    assert.ok(await nothingDelivered('alice', tag));
  });

  test('spool directory full (ENOSPC): 452 4.3.1, nothing delivered, no temp file left, small mail still flows', { skip: mountSkip }, async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ssp-full-'));
    // mode=700: a tmpfs root is 1777 otherwise, which the proxy refuses as a spool.
    await run('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=700', 'tmpfs', dir]);
    cleanup.push(async () => {
      await run('umount', [dir]);
      await rm(dir, { recursive: true, force: true });
    });
    const full = await proxy({ spool: { dir, memoryPerMessage: 1024 } });
    const big = taggedAddress();
    const refused = await transaction(full.port, big.address, largeCleanMessage(300 * 1024, big.tag));
    assert.equal(refused.final!.last, '452 4.3.1 Insufficient system storage, please try again later');
    assert.deepEqual(await readdir(dir), []);
    assert.ok(await nothingDelivered('alice', big.tag));
    const small = taggedAddress();
    assert.equal((await transaction(full.port, small.address, `Subject: ${small.tag}\r\n\r\nsmall\r\n`)).final?.code, 250);
    assert.equal((await waitForDelivery('alice', small.tag)).length, 1);
  });

  test('spool directory turned read-only while running: 451 4.3.0, nothing delivered, small mail still flows', { skip: mountSkip }, async () => {
    const source = await mkdtemp(path.join(os.tmpdir(), 'ssp-ro-src-'));
    const dir = path.join(source, 'mounted');
    await mkdir(dir);
    await run('mount', ['--bind', source, dir]);
    cleanup.push(async () => {
      await run('umount', [dir]);
      await rm(source, { recursive: true, force: true });
    });
    const readOnly = await proxy({ spool: { dir, memoryPerMessage: 1024 } });
    await run('mount', ['-o', 'remount,bind,ro', dir]);
    // At start-up the same directory is refused outright, naming the key.
    await assert.rejects(startTestProxy({ spool: { dir } }), /spool\.dir: .* is not a writable directory/);
    const big = taggedAddress();
    const refused = await transaction(readOnly.port, big.address, largeCleanMessage(100 * 1024, big.tag));
    assert.equal(refused.final!.last, '451 4.3.0 Internal error, please try again later');
    assert.ok(await nothingDelivered('alice', big.tag));
    const small = taggedAddress();
    assert.equal((await transaction(readOnly.port, small.address, `Subject: ${small.tag}\r\n\r\nsmall\r\n`)).final?.code, 250);
  });
});
