import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { access, constants, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { EICAR } from '../helpers/eicar.js';
import { headerOf, services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
// The installed binary's "#!/usr/bin/env node" finds the node running this test first.
const env = { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}` };

/**
 * What an admin does with a release: `npm pack` in the checkout (prepack builds dist/ afresh),
 * then `npm install -g` of the tarball into an empty prefix, which takes its dependencies from
 * the registry by package.json alone (no lockfile, nothing from the checkout). The prefix stands
 * for /usr, so its bin/ is where packaging/smtp-scan-proxy.service looks for the binary.
 */
async function packAndInstall(): Promise<{ files: string[]; binary: string; work: string }> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'ssp-pack-'));
  await run('npm', ['pack', '--pack-destination', work], { cwd: root, env, maxBuffer: 16 * 1024 * 1024 });
  const [tarball] = (await readdir(work)).filter((name) => name.endsWith('.tgz'));
  assert.ok(tarball, 'npm pack wrote a tarball');
  const { stdout } = await run('tar', ['-tzf', path.join(work, tarball)], { maxBuffer: 16 * 1024 * 1024 });
  const files = stdout.split('\n').filter(Boolean).map((name) => name.replace(/^package\//, ''));
  const prefix = path.join(work, 'root/usr');
  await run('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', path.join(work, tarball)], {
    cwd: work,
    env,
    maxBuffer: 16 * 1024 * 1024,
  });
  return { files, binary: path.join(prefix, 'bin/smtp-scan-proxy'), work };
}

/** The installed binary as a service runs it; resolves once it listens, with its port. */
function startInstalled(binary: string, configFile: string) {
  const child = spawn(binary, ['--config', configFile], { cwd: os.tmpdir(), env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const port = new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as { listen?: { port?: number } };
      if (entry.listen?.port) resolve(entry.listen.port);
    });
    void exited.then((code) => reject(new Error(`exited (${code}) before listening: ${stderr}`)));
  });
  return {
    port,
    stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

test('npm pack gives a tarball that installs into an empty prefix and scans and relays mail', { timeout: 300_000 }, async (t) => {
  const { files, binary, work } = await packAndInstall();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ssp-installed-'));
  t.after(() => Promise.all([work, dir].map((folder) => rm(folder, { recursive: true, force: true }))));
  for (const file of ['dist/src/cli.js', 'dist/scanners/clamav/index.js', 'dist/scanners/spamassassin/index.js',
    'dist/scanners/attachments/index.js', 'packaging/smtp-scan-proxy.service', 'README.md']) {
    assert.ok(files.includes(file), `the tarball holds ${file}`);
  }
  assert.deepEqual(files.filter((file) => /^(src|test|scripts)\//.test(file) || file.endsWith('.ts')), [], 'no sources or tests');

  await access(binary, constants.X_OK);
  const help = await run(binary, ['--help'], { cwd: os.tmpdir(), env });
  assert.match(help.stdout, /^Usage: smtp-scan-proxy/);

  const configFile = path.join(dir, 'config.yaml');
  await writeFile(configFile, stringify({
    listen: { host: '127.0.0.1', port: 0, hostname: 'proxy.example.test', reverseLookup: false },
    upstream: { host: '127.0.0.1', port: services.postfixPort },
    workers: 1,
    spool: { dir: path.join(dir, 'spool') },
    scanners: [
      { type: 'clamav', host: '127.0.0.1', port: services.clamdPort },
      { type: 'spamassassin', host: '127.0.0.1', port: services.spamdPort },
      { type: 'attachments', banned: ['exe'] },
    ],
  }));
  const proxy = startInstalled(binary, configFile);
  try {
    const port = await proxy.port;
    const client = await SmtpTestClient.afterEhlo(port);
    const clean = taggedAddress();
    const relayed = await client.send('sender@example.net', [clean.address],
      `From: sender@example.net\r\nTo: ${clean.address}\r\nSubject: from the installed package\r\n\r\nHello.\r\n`);
    assert.match(relayed.final!.last, /^250 .*queued as/);
    const [delivered] = await waitForDelivery('alice', clean.tag);
    assert.ok(delivered, 'Postfix delivered the message');
    assert.match(headerOf(delivered, 'X-Virus-Scanned') ?? '', /clamav/);
    assert.ok(headerOf(delivered, 'X-Spam-Score'), 'spamd scored it');

    const virus = taggedAddress();
    const refused = await client.send('sender@example.net', [virus.address],
      `From: sender@example.net\r\nTo: ${virus.address}\r\nSubject: eicar\r\n\r\n${EICAR}\r\n`);
    assert.match(refused.final!.last, /^554 5\.7\.1 Message rejected: virus found: .*Eicar/i);
    await client.quit();
  } finally {
    assert.equal(await proxy.stop(), 0);
  }
});
