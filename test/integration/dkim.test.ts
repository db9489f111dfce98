import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { runCli, writeConfig } from '../helpers/cli.js';
import { publishRecord, verifyWithDkimpy, verifyWithMailDkim } from '../helpers/dkim.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { headerOf, services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { startSink } from '../helpers/sink.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';

// Clients from 127.0.0.7 are "our network"; 127.0.0.8 is anybody.
const SIGNED_CLIENT = '127.0.0.7';
const OTHER_CLIENT = '127.0.0.8';

const message = (tag: string, head = `Date: Mon, 30 Nov 2026 05:44:18 +0000\r\nMessage-ID: <${tag}@dkim.test>\r\n`) =>
  `From: Alice <alice@dkim.test>\r\nTo: alice@example.test\r\nSubject: ${tag}\r\n${head}\r\n` +
  'A body with  double spaces, trailing blanks \t\r\n.and a line starting with a dot\r\n\r\n\r\n';

async function sendFrom(proxy: TestProxy, client: string, text: (tag: string) => string): Promise<string> {
  const { address, tag } = taggedAddress();
  const smtp = await SmtpTestClient.afterEhlo(proxy.port, 'client.dkim.test', client);
  const result = await smtp.send('alice@dkim.test', [address], text(tag));
  await smtp.quit();
  assert.equal(result.final?.code, 250, result.final?.last);
  const [delivered] = await waitForDelivery('alice', tag);
  assert.ok(delivered, 'delivered');
  return delivered;
}

const signatures = (delivered: string) =>
  delivered.slice(0, delivered.indexOf('\n\n')).replace(/\n[ \t]+/g, ' ').split('\n').filter((line) => /^DKIM-Signature:/i.test(line));

describe('DKIM signatures checked after Postfix delivered the message, by Mail::DKIM and dkimpy over real DNS', () => {
  const run = randomBytes(4).toString('hex');
  const rsa = `rsa${run}`;
  const ed = `ed${run}`;
  let keyDir: string;
  let proxy: TestProxy;

  before(async () => {
    keyDir = await mkdtemp(path.join(os.tmpdir(), 'ssp-dkim-keys-'));
    for (const [selector, flags] of [[rsa, []], [ed, ['--ed25519']]] as const) {
      const generated = await runCli(['dkim-keygen', 'dkim.test', selector, ...flags, '--dir', keyDir]);
      assert.equal(generated.code, 0, generated.stderr);
      await publishRecord(generated.stdout.trim());
    }
    proxy = await startTestProxy({
      upstream: { port: services.postfixPort },
      dkim: {
        keys: [rsa, ed].map((selector) => ({ domain: 'dkim.test', selector, file: path.join(keyDir, `dkim.test.${selector}.key`) })),
        networks: [`${SIGNED_CLIENT}/32`],
      },
    });
  });
  after(async () => {
    await proxy?.stop(1000);
    await rm(keyDir, { recursive: true, force: true });
  });

  test('dkim-keygen wrote each key mode 600 and printed a record that DNS serves; it never overwrites a key', async () => {
    for (const selector of [rsa, ed]) assert.equal((await stat(path.join(keyDir, `dkim.test.${selector}.key`))).mode & 0o777, 0o600);
    const again = await runCli(['dkim-keygen', 'dkim.test', rsa, '--dir', keyDir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists already/);
    assert.equal(again.stdout, '');
  });

  test('check-config reads the keys: one it cannot read is exit 78 naming the entry', async () => {
    const keys = [{ domain: 'dkim.test', selector: rsa, file: path.join(keyDir, `dkim.test.${rsa}.key`) }];
    assert.equal((await runCli(['check-config', '--config', await writeConfig({ dkim: { keys } })])).code, 0);
    const missing = await runCli(['check-config', '--config', await writeConfig({ dkim: { keys: [...keys, { ...keys[0], selector: 'gone', file: path.join(keyDir, 'gone.key') }] } })]);
    assert.equal(missing.code, 78);
    assert.match(missing.stderr, /^config: dkim\.keys\[1\]\.file: cannot read a private key from .*gone\.key/m);
  });

  test('mail from the configured network: RSA and Ed25519 signatures pass at both verifiers; From is oversigned', async () => {
    const delivered = await sendFrom(proxy, SIGNED_CLIENT, (tag) => message(tag));
    const fields = signatures(delivered);
    assert.equal(fields.length, 2);
    for (const field of fields) {
      assert.match(field, /\bd=dkim\.test;/);
      assert.match(field, /\bh=Message-ID: Date: Subject: To: From: From;/);
    }
    assert.deepEqual(await verifyWithDkimpy(delivered), [
      { selector: rsa, algorithm: 'rsa-sha256', result: 'pass' },
      { selector: ed, algorithm: 'ed25519-sha256', result: 'pass' },
    ]);
    const perl = await verifyWithMailDkim(delivered);
    assert.deepEqual(perl.find((result) => result.selector === rsa), { selector: rsa, algorithm: 'rsa-sha256', result: 'pass' });
  });

  test('a header changed after signing, or a second From added, fails at both verifiers', async () => {
    const delivered = await sendFrom(proxy, SIGNED_CLIENT, (tag) => message(tag));
    const changed = delivered.replace(/^Subject: (.*)$/m, 'Subject: $1 (changed)');
    const secondFrom = delivered.replace(/^To: /m, 'From: Mallory <ceo@dkim.test>\nTo: ');
    for (const forged of [changed, secondFrom]) {
      assert.deepEqual((await verifyWithDkimpy(forged)).map((r) => r.result), ['fail', 'fail']);
      assert.equal((await verifyWithMailDkim(forged)).find((r) => r.selector === rsa)?.result, 'fail');
    }
  });

  test('a message without Date and Message-ID gets both before signing, and they are signed', async () => {
    const delivered = await sendFrom(proxy, SIGNED_CLIENT, (tag) => message(tag, ''));
    assert.match(headerOf(delivered, 'Message-ID') ?? '', /^<[0-9a-f-]{36}@dkim\.test>$/);
    assert.match(headerOf(delivered, 'Date') ?? '', /^\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000$/);
    assert.deepEqual((await verifyWithDkimpy(delivered)).map((r) => r.result), ['pass', 'pass']);
  });

  test('mail of a client that logged in on a submission listener is signed, from any address', async () => {
    const usersFile = path.join(keyDir, 'users');
    await writeFile(usersFile, `alice@dkim.test:${bcrypt.hashSync('secret', 4)}\n`);
    const submission = await startTestProxy({
      upstream: { port: services.postfixPort },
      tls: services.tls,
      listen: { role: 'submission', auth: { type: 'file', file: usersFile } },
      dkim: { keys: [{ domain: 'dkim.test', selector: rsa, file: path.join(keyDir, `dkim.test.${rsa}.key`) }], networks: [] },
    });
    try {
      const { address, tag } = taggedAddress();
      const smtp = await SmtpTestClient.afterEhlo(submission.port, 'client.dkim.test', OTHER_CLIENT);
      await smtp.startTls();
      assert.equal((await smtp.command('EHLO client.dkim.test')).code, 250);
      assert.equal((await smtp.command(`AUTH PLAIN ${Buffer.from('\0alice@dkim.test\0secret').toString('base64')}`)).code, 235);
      const result = await smtp.send('alice@dkim.test', [address], message(tag));
      await smtp.quit();
      assert.equal(result.final?.code, 250, result.final?.last);
      const [delivered] = await waitForDelivery('alice', tag);
      assert.ok(delivered, 'delivered');
      assert.deepEqual(await verifyWithMailDkim(delivered), [{ selector: rsa, algorithm: 'rsa-sha256', result: 'pass' }]);
    } finally {
      await submission.stop(1000);
    }
  });

  test('towards an upstream without 8BITMIME, 8-bit mail goes out unsigned and 7-bit mail signed', async () => {
    const dumps = await mkdtemp(path.join(os.tmpdir(), 'ssp-dkim-sink-'));
    await chmod(dumps, 0o777);
    const sink = await startSink(['-8', '-d', `${dumps}/%M.`]);
    const toSink = await startTestProxy({
      upstream: { port: sink.port, xclient: false },
      dkim: { keys: [{ domain: 'dkim.test', selector: rsa, file: path.join(keyDir, `dkim.test.${rsa}.key`) }], networks: [`${SIGNED_CLIENT}/32`] },
    });
    try {
      for (const [subject, body] of [['seven', 'plain ASCII\r\n'], ['eight', 'Gr\xfc\xdfe aus M\xfcnchen\r\n']]) {
        const smtp = await SmtpTestClient.afterEhlo(toSink.port, 'client.dkim.test', SIGNED_CLIENT);
        const text = `From: alice@dkim.test\r\nTo: bob@example.net\r\nSubject: ${subject}\r\n\r\n${body}`;
        const result = await smtp.send('alice@dkim.test', ['bob@example.net'], Buffer.from(text, 'latin1'));
        await smtp.quit();
        assert.equal(result.final?.code, 250, result.final?.last);
      }
      const received = await Promise.all((await readdir(dumps)).map((file) => readFile(path.join(dumps, file), 'latin1')));
      const signedBySubject = Object.fromEntries(received.map((dump) => [/^Subject: (\w+)/m.exec(dump)?.[1], /^DKIM-Signature:/m.test(dump)]));
      assert.deepEqual(signedBySubject, { seven: true, eight: false });
    } finally {
      await toSink.stop(1000);
      await sink.stop();
      await rm(dumps, { recursive: true, force: true });
    }
  });

  test('mail from a client outside the networks, not authenticated, is not signed', async () => {
    const delivered = await sendFrom(proxy, OTHER_CLIENT, (tag) => message(tag));
    assert.deepEqual(signatures(delivered), []);
  });
});
