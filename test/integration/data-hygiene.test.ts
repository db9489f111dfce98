import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { bodyOf, nothingDelivered, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { SEND_PATHS } from '../helpers/send-paths.js';

/**
 * SMTP smuggling (SEC Consult, 2023): a sender hides a second transaction behind an end-of-data
 * sequence that the proxy does not treat as one but an upstream might. Through the proxy, each
 * must deliver exactly one message, with no bare CR or LF, and never the smuggled one.
 */
const SMUGGLING_ENDINGS: [string, string][] = [
  ['LF.LF', '\n.\n'],
  ['LF.CRLF', '\n.\r\n'],
  ['CRLF.LF', '\r\n.\n'],
  ['CR.CR', '\r.\r'],
  ['CRLF.CR', '\r\n.\r'],
  ['CR.CRLF', '\r.\r\n'],
  ['LF.CR', '\n.\r'],
  ['CRLF.NUL CRLF', '\r\n.\0\r\n'],
];

for (const path of SEND_PATHS) describe(`DATA hygiene against a real Postfix, sent with ${path.command} (${path.upstream})`, () => {
  let proxy: TestProxy;
  before(async () => {
    proxy = await startTestProxy({ upstream: { port: path.port() }, limits: { maxMessageSize: 1024 * 1024 } });
  });
  after(() => proxy.stop(1000));

  for (const [name, ending] of SMUGGLING_ENDINGS) {
    test(`smuggling with ${name}: one message delivered, no second transaction`, async () => {
      const victim = taggedAddress('alice');
      const smuggled = taggedAddress('bob');
      const client = await SmtpTestClient.afterEhlo(proxy.port);
      assert.equal((await client.command('MAIL FROM:<sender@client.example.net>')).code, 250);
      assert.equal((await client.command(`RCPT TO:<${victim.address}>`)).code, 250);
      assert.equal((await client.command('DATA')).code, 354);
      client.write(
        `Subject: ${victim.tag}\r\n\r\nfirst message${ending}` +
          `MAIL FROM:<admin@example.test>\r\nRCPT TO:<${smuggled.address}>\r\nDATA\r\n` +
          `Subject: smuggled ${smuggled.tag}\r\n\r\nsmuggled body\r\n.\r\n`,
      );
      const final = await client.read();
      // Whatever follows the real end of data is commands to the proxy, not to the upstream.
      const after = await client.command('QUIT');
      assert.match(final.last, path.final);
      assert.equal(after.code, 221);
      const [delivered, ...more] = await waitForDelivery('alice', victim.tag);
      assert.ok(delivered);
      assert.equal(more.length, 0);
      const body = bodyOf(delivered);
      assert.ok(body.includes('smuggled body'), 'the smuggled text stayed inside the first message');
      assert.ok(!/\r/.test(body), 'no CR left once Postfix stored it (bare CR became line breaks)');
      assert.ok(await nothingDelivered('bob', smuggled.tag), 'no second transaction at Postfix');
    });
  }

  test('bare LF is normalized to CRLF by default', async () => {
    const { address, tag } = taggedAddress();
    const client = await SmtpTestClient.afterEhlo(proxy.port);
    const result = await client.send('sender@client.example.net', [address], `Subject: ${tag}\r\n\r\none\ntwo\rthree\r\n`);
    await client.quit();
    assert.match(result.final!.last, path.final);
    const [delivered] = await waitForDelivery('alice', tag);
    assert.equal(bodyOf(delivered!), 'one\ntwo\nthree\n');
  });

  test('with limits.bareLineFeed: reject, bare LF gets 550 5.5.2 and nothing is delivered', async () => {
    const strict = await startTestProxy({ upstream: { port: path.port() }, limits: { bareLineFeed: 'reject' } });
    try {
      const { address, tag } = taggedAddress();
      const client = await SmtpTestClient.afterEhlo(strict.port);
      const result = await client.send('sender@client.example.net', [address], `Subject: ${tag}\r\n\r\none\ntwo\r\n`);
      const next = await client.send('sender@client.example.net', [address], `Subject: ${tag}-ok\r\n\r\nfine\r\n`);
      await client.quit();
      assert.match(result.final!.last, /^550 5\.5\.2 /);
      assert.equal(next.final!.code, 250);
      const delivered = await waitForDelivery('alice', tag);
      assert.equal(delivered.length, 1);
      assert.ok(delivered[0]!.includes(`Subject: ${tag}-ok`));
    } finally {
      await strict.stop(1000);
    }
  });

  test('a message over limits.maxMessageSize gets 552 and nothing reaches the upstream', async () => {
    const { address, tag } = taggedAddress();
    const client = await SmtpTestClient.afterEhlo(proxy.port);
    const line = `${'x'.repeat(998)}\r\n`;
    const result = await client.send('sender@client.example.net', [address], `Subject: ${tag}\r\n\r\n${line.repeat(1100)}`);
    const next = await client.send('sender@client.example.net', [address], `Subject: ${tag}\r\n\r\nsmall\r\n`);
    await client.quit();
    assert.match(result.final!.last, /^552 5\.3\.4 /);
    assert.equal(next.final!.code, 250);
    const delivered = await waitForDelivery('alice', tag);
    assert.equal(delivered.length, 1);
    assert.ok(delivered[0]!.includes('small'));
  });

  test('a SIZE= over the limit is refused at MAIL', async () => {
    const client = await SmtpTestClient.afterEhlo(proxy.port);
    const reply = await client.command(`MAIL FROM:<sender@client.example.net> SIZE=${2 * 1024 * 1024}`);
    await client.quit();
    assert.match(reply.last, /^552 5\.3\.4 /);
  });

  test('a message spooled to a temp file is delivered and the file is gone afterwards', async () => {
    const small = await startTestProxy({ upstream: { port: path.port() }, spool: { memoryPerMessage: 1024 } });
    try {
      const { address, tag } = taggedAddress();
      const body = `${'y'.repeat(500)}\r\n`.repeat(40);
      const client = await SmtpTestClient.afterEhlo(small.port);
      const result = await client.send('sender@client.example.net', [address], `Subject: ${tag}\r\n\r\n${body}`);
      await client.quit();
      assert.match(result.final!.last, path.final);
      const [delivered] = await waitForDelivery('alice', tag);
      assert.equal(bodyOf(delivered!), body.replace(/\r\n/g, '\n'));
      assert.deepEqual(await readdir(small.spoolDir), []);
    } finally {
      await small.stop(1000);
    }
  });
});
