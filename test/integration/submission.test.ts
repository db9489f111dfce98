import assert from 'node:assert/strict';
import { randomBytes, scryptSync } from 'node:crypto';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { capturedLogger } from '../helpers/captured-logger.js';
import { countingConnect, startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { delta, scrape } from '../helpers/scrape.js';
import { headerOf, services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { UpstreamClient, type UpstreamOptions } from '../../src/upstream/client.js';

/**
 * A submission listener in front of the test Postfix's submission smtpd (TLS required, AUTH
 * through a real Dovecot, only logged-in users' mail accepted: scripts/templates/postfix-master.cf).
 * What Postfix received shows whether the login reached it: its Received header names the
 * authenticated sender (smtpd_sasl_authenticated_header), and without a login it takes nothing.
 */
const plain = (user: string, password: string) => Buffer.from(`\0${user}\0${password}`).toString('base64');
const b64 = (text: string) => Buffer.from(text).toString('base64');
const message = (from: string, tag: string) =>
  `From: ${from}\r\nTo: alice@example.test\r\nSubject: ${tag}\r\nMessage-ID: <${tag}@client.example.net>\r\n\r\nHello.\r\n`;

/** Greeted, STARTTLS done and EHLO said again: where AUTH is offered. */
async function secured(port: number, from?: string): Promise<{ client: SmtpTestClient; ehlo: string[] }> {
  const client = await SmtpTestClient.afterEhlo(port, 'client.example.net', from);
  await client.startTls();
  const ehlo = await client.command('EHLO client.example.net');
  assert.equal(ehlo.code, 250);
  return { client, ehlo: ehlo.lines };
}

/** AUTH PLAIN, then one message to a fresh alice address; the replies and what was delivered. */
async function loginAndSend(port: number, user: string, password: string, from?: string) {
  const { client } = await secured(port, from);
  const auth = await client.command(`AUTH PLAIN ${plain(user, password)}`);
  const { address, tag } = taggedAddress();
  const result = auth.code === 235 ? await client.send(user, [address], message(user, tag)) : undefined;
  await client.quit();
  return { auth, result, tag };
}

describe('submission listener, auth: upstream (relayed to Postfix and Dovecot)', () => {
  let proxy: TestProxy;
  const { connect, opened } = countingConnect();

  before(async () => {
    proxy = await startTestProxy(
      {
        tls: services.tls,
        listen: { role: 'submission', auth: { type: 'upstream' }, upstream: { port: services.postfixSubmissionPort } },
      },
      { connect },
    );
  });
  after(() => proxy.stop(1000));

  test('in clear: no AUTH in the EHLO reply, AUTH refused with 530 5.7.0, and no upstream session opened', async () => {
    const before = opened();
    const client = await SmtpTestClient.greeted(proxy.port);
    const ehlo = await client.command('EHLO client.example.net');
    assert.ok(ehlo.lines.includes('STARTTLS'), ehlo.lines.join(' | '));
    assert.ok(!ehlo.lines.some((line) => /^AUTH\b/i.test(line)), `no AUTH offered in clear: ${ehlo.lines.join(' | ')}`);
    assert.equal((await client.command(`AUTH PLAIN ${plain('alice@example.test', 'alice-password')}`)).last, '530 5.7.0 Must issue a STARTTLS command first');
    await client.quit();
    assert.equal(opened(), before);
  });

  test('MAIL before AUTH: 530 5.7.0, and nothing reaches Postfix', async () => {
    const before = opened();
    const { client, ehlo } = await secured(proxy.port);
    assert.ok(ehlo.includes('AUTH PLAIN LOGIN'), ehlo.join(' | '));
    assert.equal((await client.command('MAIL FROM:<alice@example.test>')).last, '530 5.7.0 Authentication required');
    await client.quit();
    assert.equal(opened(), before);
  });

  test("right password: Postfix's 235, the mail delivered, its Received header names the user", async () => {
    const { auth, result, tag } = await loginAndSend(proxy.port, 'alice@example.test', 'alice-password');
    assert.equal(auth.last, '235 2.7.0 Authentication successful');
    assert.equal(result?.final?.code, 250, result?.final?.last ?? result?.mail.last);
    const [delivered] = await waitForDelivery('alice', tag);
    assert.match(headerOf(delivered ?? '', 'Received') ?? '', /\(Authenticated sender: alice@example\.test\)/);
  });

  test("wrong password: Postfix's own 535 relayed, nothing delivered", async () => {
    const { auth } = await loginAndSend(proxy.port, 'alice@example.test', 'not-her-password');
    assert.match(auth.last, /^535 5\.7\.8 Error: authentication failed/);
  });

  test('AUTH LOGIN from the client works the same (the upstream is asked with the same user and password)', async () => {
    const { client } = await secured(proxy.port);
    assert.equal((await client.command('AUTH LOGIN')).code, 334);
    assert.equal((await client.command(b64('bob@example.test'))).code, 334);
    assert.equal((await client.command(b64('bob-password'))).code, 235);
    const { address, tag } = taggedAddress('bob');
    const result = await client.send('bob@example.test', [address], message('bob@example.test', tag));
    await client.quit();
    assert.equal(result.final?.code, 250);
    const [delivered] = await waitForDelivery('bob', tag);
    assert.match(headerOf(delivered ?? '', 'Received') ?? '', /\(Authenticated sender: bob@example\.test\)/);
  });

  test('each logged-in client gets an upstream session of its own, never a pooled one', async () => {
    const before = opened();
    await loginAndSend(proxy.port, 'alice@example.test', 'alice-password');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const second = await secured(proxy.port);
    // The second client has not logged in: the first one's session must not carry it.
    assert.equal((await second.client.command('MAIL FROM:<alice@example.test>')).code, 530);
    assert.equal((await second.client.command(`AUTH PLAIN ${plain('bob@example.test', 'bob-password')}`)).code, 235);
    await second.client.quit();
    assert.equal(opened() - before, 2);
  });
});

describe('auth: upstream: the session the user logged in on is the only one', () => {
  let proxy: TestProxy;
  const clients: UpstreamClient[] = [];

  before(async () => {
    const connect = async (options: UpstreamOptions) => {
      const client = await UpstreamClient.connect(options);
      clients.push(client);
      return client;
    };
    proxy = await startTestProxy(
      { tls: services.tls, listen: { role: 'submission', auth: { type: 'upstream' }, upstream: { port: services.postfixSubmissionPort } } },
      { connect },
    );
  });
  after(() => proxy.stop(1000));

  test('lost after the login: MAIL gets 451 4.4.2, and no fresh session without the login is opened', async () => {
    const { client } = await secured(proxy.port);
    assert.equal((await client.command(`AUTH PLAIN ${plain('alice@example.test', 'alice-password')}`)).code, 235);
    assert.equal(clients.length, 1);
    clients[0]!.destroy();
    assert.equal((await client.command('MAIL FROM:<alice@example.test>')).last, '451 4.4.2 Connection to the mail service lost, please try again later');
    await client.quit();
    assert.equal(clients.length, 1);
  });
});

describe('submission listener, auth: file (users file, XCLIENT LOGIN to Postfix)', () => {
  let proxy: TestProxy;
  let dir: string;
  let usersFile: string;
  const captured = capturedLogger();
  const secret = (user: string) => `${user}-${randomBytes(4).toString('hex')}`;
  const passwords = { carol: secret('carol'), alice: secret('alice'), postmaster: secret('postmaster') };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ssp-users-'));
    usersFile = path.join(dir, 'users');
    const salt = randomBytes(16);
    const scrypt = scryptSync(passwords.alice, salt, 32, { N: 2 ** 14, r: 8, p: 1 });
    await writeFile(
      usersFile,
      [
        '# user:hash, as htpasswd -B writes it ($2y$) or scrypt in PHC form',
        `carol@example.test:${bcrypt.hashSync(passwords.carol, 4).replace('$2b$', '$2y$')}`,
        `alice@example.test:$scrypt$ln=14,r=8,p=1$${salt.toString('base64')}$${scrypt.toString('base64')}`,
        `postmaster@example.test:${bcrypt.hashSync(passwords.postmaster, 4)}`,
        '',
      ].join('\n'),
    );
    proxy = await startTestProxy(
      {
        tls: services.tls,
        listen: {
          role: 'submission',
          tls: 'implicit',
          auth: { type: 'file', file: usersFile, failedLogins: { perAddress: { limit: 3 }, perUser: { limit: 4 } } },
          upstream: { port: services.postfixSubmissionPort },
        },
        metrics: { port: 0 },
      },
      { logger: captured.logger },
    );
  });
  after(async () => {
    await proxy.stop(1000);
    await rm(dir, { recursive: true, force: true });
  });

  /** Implicit TLS (port 465's way): EHLO offers AUTH at once. */
  async function connected(from?: string): Promise<SmtpTestClient> {
    const client = await SmtpTestClient.connectTls(proxy.port, from);
    assert.equal((await client.read()).code, 220);
    const ehlo = await client.command('EHLO client.example.net');
    assert.ok(ehlo.lines.includes('AUTH PLAIN LOGIN'), ehlo.lines.join(' | '));
    return client;
  }

  async function login(user: string, password: string, from?: string) {
    const client = await connected(from);
    const auth = await client.command(`AUTH PLAIN ${plain(user, password)}`);
    return { client, auth };
  }

  test("a bcrypt ($2y$) user: 235, and Postfix's Received header names the login passed with XCLIENT LOGIN", async () => {
    const { client, auth } = await login('carol@example.test', passwords.carol, '127.0.0.31');
    assert.equal(auth.last, '235 2.7.0 Authentication successful');
    const { address, tag } = taggedAddress();
    const result = await client.send('carol@example.test', [address], message('carol@example.test', tag));
    await client.quit();
    assert.equal(result.final?.code, 250, result.final?.last ?? result.rcpts[0]?.last);
    const [delivered] = await waitForDelivery('alice', tag);
    const received = headerOf(delivered ?? '', 'Received') ?? '';
    assert.match(received, /^from client\.example\.net \(unknown \[127\.0\.0\.31\]\)/);
    assert.match(received, /\(Authenticated sender: carol@example\.test\)/);
    assert.match(received, / with ESMTPSA /);
  });

  test('a scrypt user logs in too, counted as accepted', async () => {
    const before = await scrape(proxy.metricsAddress!.port);
    const { client, auth } = await login('alice@example.test', passwords.alice, '127.0.0.32');
    await client.quit();
    assert.equal(auth.code, 235);
    assert.equal(delta(before, await scrape(proxy.metricsAddress!.port), 'smtp_scan_proxy_logins_total', { result: 'accepted' }), 1);
  });

  test('wrong password: 535 5.7.8, "login failed" logged and counted', async () => {
    const before = await scrape(proxy.metricsAddress!.port);
    const { client, auth } = await login('carol@example.test', 'wrong', '127.0.0.33');
    await client.quit();
    const after = await scrape(proxy.metricsAddress!.port);
    assert.equal(auth.last, '535 5.7.8 Authentication credentials invalid');
    assert.equal(delta(before, after, 'smtp_scan_proxy_logins_total', { result: 'failed' }), 1);
    assert.equal(delta(before, after, 'smtp_scan_proxy_logins_total', { result: 'accepted' }), 0);
    assert.ok(captured.lines.some((line) => line.msg === 'login failed' && line.user === 'carol@example.test' && line.client === '127.0.0.33'));
  });

  test('after 3 failed logins from one address the 4th AUTH gets 454, even with the right password, and is logged', async () => {
    const from = '127.0.0.34';
    for (let i = 0; i < 3; i++) {
      const { client, auth } = await login('alice@example.test', `guess-${i}`, from);
      await client.quit();
      assert.equal(auth.code, 535);
    }
    const before = await scrape(proxy.metricsAddress!.port);
    const { client, auth } = await login('alice@example.test', passwords.alice, from);
    assert.equal(auth.last, '454 4.7.0 Too many failed logins, please try again later');
    assert.equal(delta(before, await scrape(proxy.metricsAddress!.port), 'smtp_scan_proxy_logins_total', { result: 'refused' }), 1);
    assert.equal((await client.command('MAIL FROM:<alice@example.test>')).code, 530);
    await client.quit();
    assert.ok(captured.lines.some((line) => line.msg === 'login refused: too many failed logins' && line.limit === 'perAddress' && line.client === from));
    // Another address is not held back.
    const other = await login('alice@example.test', passwords.alice, '127.0.0.35');
    await other.client.quit();
    assert.equal(other.auth.code, 235);
  });

  test('after 4 failed logins for one user, from several addresses, that user gets 454 from anywhere', async () => {
    for (let i = 0; i < 4; i++) {
      // Counted case-blind: varying the case gives a guesser no fresh count.
      const { client, auth } = await login(i % 2 ? 'Postmaster@example.test' : 'postmaster@example.test', `guess-${i}`, `127.0.0.${40 + i}`);
      await client.quit();
      assert.equal(auth.code, 535);
    }
    const { client, auth } = await login('postmaster@example.test', passwords.postmaster, '127.0.0.45');
    await client.quit();
    assert.equal(auth.code, 454);
    assert.ok(captured.lines.some((line) => line.msg === 'login refused: too many failed logins' && line.limit === 'perUser'));
  });

  test('a user added to the file can log in without a restart', async () => {
    const password = `bob-${randomBytes(4).toString('hex')}`;
    const before = await login('bob@example.test', password, '127.0.0.50');
    await before.client.quit();
    assert.equal(before.auth.code, 535);
    await appendFile(usersFile, `bob@example.test:${bcrypt.hashSync(password, 4)}\n`);
    const { client, auth } = await login('bob@example.test', password, '127.0.0.51');
    const { address, tag } = taggedAddress('bob');
    const result = await client.send('bob@example.test', [address], message('bob@example.test', tag));
    await client.quit();
    assert.equal(auth.code, 235);
    assert.equal(result.final?.code, 250);
    assert.ok(captured.lines.some((line) => line.msg === 'users file reloaded'));
  });
});
