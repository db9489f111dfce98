import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { runCli, writeConfig } from '../helpers/cli.js';
import { startProxyProcess } from '../helpers/proxy-process.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { headerOf, services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';

/**
 * One proxy, two listeners: inbound (mail from the world to the test Postfix's main port, no
 * AUTH ever) and submission (our users, to Postfix's submission smtpd). Each keeps its role,
 * its TLS and its upstream.
 */
const DENIED = '127.0.0.63';
const password = `carol-${randomBytes(4).toString('hex')}`;
const plain = (user: string, secret: string) => Buffer.from(`\0${user}\0${secret}`).toString('base64');
const message = (from: string, tag: string) => `From: ${from}\r\nTo: alice@example.test\r\nSubject: ${tag}\r\n\r\nHello.\r\n`;

async function usersFile(): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ssp-listeners-'));
  const file = path.join(dir, 'users');
  await writeFile(file, `carol@example.test:${bcrypt.hashSync(password, 4)}\n`);
  return { dir, file };
}

const listeners = (file: string, submissionPort = 0) => [
  { port: 0 },
  { role: 'submission', port: submissionPort, auth: { type: 'file', file }, upstream: { port: services.postfixSubmissionPort } },
];

describe('an inbound and a submission listener in one proxy', () => {
  let proxy: TestProxy;
  let dir: string;

  before(async () => {
    const users = await usersFile();
    dir = users.dir;
    proxy = await startTestProxy({
      tls: services.tls,
      upstream: { port: services.postfixPort },
      listen: listeners(users.file),
      // A client on a denied address: refused at the inbound listener, not screened at submission.
      screening: { action: 'drop', access: { deny: [DENIED] } },
    });
  });
  after(async () => {
    await proxy.stop(1000);
    await rm(dir, { recursive: true, force: true });
  });

  test('inbound: STARTTLS but never AUTH, and mail relayed without a login, as before', async () => {
    assert.equal(proxy.addresses.length, 2);
    const client = await SmtpTestClient.afterEhlo(proxy.addresses[0]!.port, 'client.example.net', '127.0.0.61');
    await client.startTls();
    const ehlo = await client.command('EHLO client.example.net');
    assert.ok(!ehlo.lines.some((line) => /^AUTH\b/i.test(line)), ehlo.lines.join(' | '));
    assert.equal((await client.command(`AUTH PLAIN ${plain('carol@example.test', password)}`)).last, '500 5.5.2 Error: command not recognized');
    const { address, tag } = taggedAddress();
    const result = await client.send('sender@client.example.net', [address], message('sender@client.example.net', tag));
    await client.quit();
    assert.equal(result.final?.code, 250, result.final?.last);
    const [delivered] = await waitForDelivery('alice', tag);
    const received = headerOf(delivered ?? '', 'Received') ?? '';
    assert.match(received, /^from client\.example\.net \(unknown \[127\.0\.0\.61\]\)/);
    assert.doesNotMatch(received, /Authenticated sender/);
  });

  test('screening is for the inbound listener: a denied address gets 521 there', async () => {
    const client = await SmtpTestClient.connect(proxy.addresses[0]!.port, DENIED);
    assert.match((await client.read()).last, /^521 5\.7\.1 /);
    client.close();
  });

  test('submission: not screened (users on dynamic addresses), the login and the submission upstream; Postfix names the user', async () => {
    const client = await SmtpTestClient.afterEhlo(proxy.addresses[1]!.port, 'client.example.net', DENIED);
    await client.startTls();
    assert.ok((await client.command('EHLO client.example.net')).lines.includes('AUTH PLAIN LOGIN'));
    assert.equal((await client.command(`AUTH PLAIN ${plain('carol@example.test', password)}`)).code, 235);
    const { address, tag } = taggedAddress();
    const result = await client.send('carol@example.test', [address], message('carol@example.test', tag));
    await client.quit();
    assert.equal(result.final?.code, 250, result.final?.last);
    const [delivered] = await waitForDelivery('alice', tag);
    assert.match(headerOf(delivered ?? '', 'Received') ?? '', /\(Authenticated sender: carol@example\.test\)/);
  });
});

describe('two listeners in the CLI with two workers', () => {
  test('both answer in every worker, and --check probes each one', async () => {
    const users = await usersFile();
    // A fixed port for the second listener: two listeners on port 0 in cluster workers would share one handle.
    const proxy = await startProxyProcess({ workers: 2, tls: services.tls, upstream: { port: services.postfixPort }, listen: listeners(users.file, 10465) });
    try {
      for (let i = 0; i < 4; i++) {
        const client = await SmtpTestClient.afterEhlo(10465, 'client.example.net');
        await client.startTls();
        assert.ok((await client.command('EHLO client.example.net')).lines.includes('AUTH PLAIN LOGIN'));
        assert.equal((await client.command(`AUTH PLAIN ${plain('carol@example.test', password)}`)).code, 235);
        await client.quit();
        const inbound = await SmtpTestClient.greeted(proxy.port);
        await inbound.quit();
      }
      const file = await writeConfig({ tls: services.tls, upstream: { port: services.postfixPort }, listen: [{ port: proxy.port }, listeners(users.file, 10465)[1]] });
      const result = await runCli(['--check', '--config', file]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(result.stdout, new RegExp(`^ok {3}listener 127\\.0\\.0\\.1:${proxy.port}: 220 `, 'm'));
      assert.match(result.stdout, /^ok {3}listener 127\.0\.0\.1:10465: 220 /m);
      assert.match(result.stdout, new RegExp(`^ok {3}upstream 127\\.0\\.0\\.1:${services.postfixSubmissionPort} \\(listen\\[1\\]\\): 220 .*; XCLIENT offered$`, 'm'));
    } finally {
      await proxy.stop();
      await rm(users.dir, { recursive: true, force: true });
    }
  });
});
