import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { bodyOf, headerOf, nothingDelivered, services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { countingConnect, startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { SEND_PATHS } from '../helpers/send-paths.js';

const message = (tag: string, body = 'Hello from the relay test.\r\nSecond line.\r\n') =>
  `From: sender@client.example.net\r\nTo: alice@example.test\r\nSubject: ${tag}\r\nMessage-ID: <${tag}@client.example.net>\r\n\r\n${body}`;

describe('lockstep relay in front of a real Postfix', () => {
  let proxy: TestProxy;
  const { connect: counting, opened } = countingConnect();

  before(async () => {
    proxy = await startTestProxy({ upstream: { port: services.postfixPort } }, { connect: counting });
  });
  after(() => proxy.stop(1000));

  for (const path of SEND_PATHS) {
    test(`${path.upstream}: a clean message is sent with ${path.command}, delivered with a byte-identical body, Postfix's own final reply relayed`, async () => {
      const sender = path.command === 'BDAT' ? proxy : await startTestProxy({ upstream: { port: path.port() } });
      try {
        const { address, tag } = taggedAddress();
        const body = 'Line one.\r\n.A line starting with a dot\r\n..two dots\r\n.\r\n\r\nTrailing text.\r\n';
        const client = await SmtpTestClient.afterEhlo(sender.port);
        const result = await client.send('sender@client.example.net', [address], message(tag, body));
        await client.quit();
        assert.equal(result.mail.last, '250 2.1.0 Ok');
        assert.equal(result.rcpts[0]!.last, '250 2.1.5 Ok');
        assert.match(result.final!.last, path.final);
        const [delivered] = await waitForDelivery('alice', tag);
        assert.ok(delivered, 'message delivered');
        assert.equal(bodyOf(delivered), body.replace(/\r\n/g, '\n'));
      } finally {
        if (sender !== proxy) await sender.stop(1000);
      }
    });
  }

  test('mixed recipients: the unknown one gets Postfix\'s exact 550, the others get the message', async () => {
    const alice = taggedAddress('alice');
    const bob = taggedAddress('bob');
    const unknown = `nobody+${alice.tag}@example.test`;
    const direct = await SmtpTestClient.afterEhlo(services.postfixPort);
    await direct.command('MAIL FROM:<sender@client.example.net>');
    const postfixSays = await direct.command(`RCPT TO:<${unknown}>`);
    await direct.quit();

    const client = await SmtpTestClient.afterEhlo(proxy.port);
    const result = await client.send('sender@client.example.net', [alice.address, unknown, bob.address], message(alice.tag));
    await client.quit();
    assert.equal(result.rcpts[1]!.last, postfixSays.last);
    assert.match(result.rcpts[1]!.last, /^550 5\.1\.1 <nobody\+\w+@example\.test>: Recipient address rejected: User unknown/);
    assert.equal(result.final!.code, 250);
    assert.equal((await waitForDelivery('alice', alice.tag)).length, 1);
    assert.equal((await waitForDelivery('bob', bob.tag)).length, 1);
  });

  test('a relay attempt gets Postfix\'s 554 5.7.1', async () => {
    const client = await SmtpTestClient.afterEhlo(proxy.port);
    await client.command('MAIL FROM:<sender@client.example.net>');
    const reply = await client.command('RCPT TO:<someone@elsewhere.test>');
    await client.quit();
    assert.equal(reply.last, '554 5.7.1 <someone@elsewhere.test>: Relay access denied');
  });

  test('Postfix refusing at DATA and after the final dot: its own 5xx reaches the client, nothing is delivered', async () => {
    const { address, tag } = taggedAddress();
    const client = await SmtpTestClient.afterEhlo(proxy.port);
    const atData = await client.send('refuse-at-data@client.example.net', [address], message(tag));
    const afterDot = await client.send('sender@client.example.net', [address], message(`${tag} refuse-after-dot`));
    // Both refusals leave the session usable: the next message goes through.
    const next = await client.send('sender@client.example.net', [address], message(`${tag}-ok`));
    await client.quit();
    // The proxy takes the message itself (its own 354) and sends DATA upstream only after
    // scanning, so Postfix's refusal of DATA comes back as the reply to the message.
    assert.equal(atData.final!.last, '554 5.7.1 <refuse-at-data@client.example.net>: Sender address rejected: Refused at DATA by the test Postfix');
    assert.equal(afterDot.final!.last, '550 5.7.1 Refused after the final dot by the test Postfix');
    assert.equal(next.final!.code, 250);
    const delivered = await waitForDelivery('alice', tag);
    assert.equal(delivered.length, 1);
    assert.ok(delivered[0]!.includes(`Subject: ${tag}-ok`));
  });

  test('several messages on one connection reuse one upstream session', async () => {
    const before = opened();
    const { address, tag } = taggedAddress();
    const client = await SmtpTestClient.afterEhlo(proxy.port);
    for (let i = 0; i < 3; i++) {
      const result = await client.send('sender@client.example.net', [address], message(`${tag}-${i}`));
      assert.equal(result.final!.code, 250);
    }
    // An abandoned transaction in between must be reset upstream, not carried over.
    assert.equal((await client.command('MAIL FROM:<other@client.example.net>')).code, 250);
    assert.equal((await client.command('RSET')).code, 250);
    const last = await client.send('sender@client.example.net', [address], message(`${tag}-3`));
    assert.equal(last.final!.code, 250);
    await client.quit();
    assert.equal(opened() - before, 1);
    assert.equal((await waitForDelivery('alice', tag, 4)).length, 4);
  });

  test('a pipelining client gets every reply, in order', async () => {
    const { address, tag } = taggedAddress();
    const client = await SmtpTestClient.afterEhlo(proxy.port);
    client.write(`MAIL FROM:<sender@client.example.net>\r\nRCPT TO:<${address}>\r\nRCPT TO:<nobody@example.test>\r\nDATA\r\n`);
    const replies = [await client.read(), await client.read(), await client.read(), await client.read()];
    assert.deepEqual(replies.map((r) => r.code), [250, 250, 550, 354]);
    client.write(`${message(tag)}.\r\nQUIT\r\n`);
    assert.equal((await client.read()).code, 250);
    assert.equal((await client.read()).code, 221);
    assert.equal((await waitForDelivery('alice', tag)).length, 1);
  });

  test('8BITMIME and SMTPUTF8 are offered, passed on, and the 8-bit body arrives intact', async () => {
    const { address, tag } = taggedAddress();
    const client = await SmtpTestClient.greeted(proxy.port);
    const ehlo = await client.command('EHLO client.example.net');
    assert.ok(ehlo.lines.includes('8BITMIME') && ehlo.lines.includes('SMTPUTF8'), ehlo.lines.join('|'));
    const body = 'Grüße aus Köln, 日本語のテキスト.\r\n';
    const mail = await client.command('MAIL FROM:<jörg@bücher.example> BODY=8BITMIME SMTPUTF8');
    assert.equal(mail.code, 250);
    assert.equal((await client.command(`RCPT TO:<${address}>`)).code, 250);
    assert.equal((await client.command('DATA')).code, 354);
    client.write(Buffer.from(`Subject: ${tag}\r\nFrom: jörg@bücher.example\r\n\r\n${body}.\r\n`, 'utf8'));
    assert.equal((await client.read()).code, 250);
    await client.quit();
    const [delivered] = await waitForDelivery('alice', tag);
    assert.ok(delivered);
    assert.equal(Buffer.from(bodyOf(delivered), 'latin1').toString('utf8'), body.replace(/\r\n/g, '\n'));
    assert.match(headerOf(delivered, 'Return-Path') ?? '', /^<j\u00c3\u00b6rg@/);
  });

  test('the EHLO reply offers only what the proxy implements and the upstream supports', async () => {
    const client = await SmtpTestClient.greeted(proxy.port);
    const ehlo = await client.command('EHLO client.example.net');
    await client.quit();
    const keywords = ehlo.lines.slice(1).map((line) => line.split(' ')[0]);
    for (const expected of ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'SIZE', 'DSN']) {
      assert.ok(keywords.includes(expected), `${expected} offered: ${keywords.join(' ')}`);
    }
    for (const upstreamOnly of ['XCLIENT', 'ETRN', 'CHUNKING', 'VRFY', 'STARTTLS', 'AUTH']) {
      assert.ok(!keywords.includes(upstreamOnly), `${upstreamOnly} not offered`);
    }
  });

  test('XCLIENT passes the real client\'s HELO to Postfix, which names it in its Received header', async () => {
    const { address, tag } = taggedAddress();
    const client = await SmtpTestClient.afterEhlo(proxy.port, 'real-client.example.net');
    assert.equal((await client.send('sender@client.example.net', [address], message(tag))).final!.code, 250);
    await client.quit();
    const [delivered] = await waitForDelivery('alice', tag);
    assert.match(headerOf(delivered!, 'Received') ?? '', /^from real-client\.example\.net \(/);
  });

  test('the upstream session uses STARTTLS when Postfix offers it, and not when told not to', async () => {
    const plain = await startTestProxy({ upstream: { port: services.postfixPort, starttls: 'off' } });
    try {
      const received: string[] = [];
      for (const port of [proxy.port, plain.port]) {
        const { address, tag } = taggedAddress();
        const client = await SmtpTestClient.afterEhlo(port);
        assert.equal((await client.send('sender@client.example.net', [address], message(tag))).final!.code, 250);
        await client.quit();
        const [delivered] = await waitForDelivery('alice', tag);
        received.push(headerOf(delivered!, 'Received') ?? '');
      }
      // Postfix's "ESMTPS" (RFC 3848) means the session it received the message in used TLS.
      assert.match(received[0]!, / with ESMTPS id /);
      assert.match(received[1]!, / with ESMTP id /);
    } finally {
      await plain.stop(1000);
    }
  });

  test('clients can use STARTTLS when tls is configured, and mail flows over it', async () => {
    const secure = await startTestProxy({ upstream: { port: services.postfixPort }, tls: services.tls });
    try {
      const { address, tag } = taggedAddress();
      const client = await SmtpTestClient.greeted(secure.port);
      const before = await client.command('EHLO client.example.net');
      assert.ok(before.lines.includes('STARTTLS'));
      await client.startTls();
      const after = await client.command('EHLO client.example.net');
      assert.ok(!after.lines.includes('STARTTLS'), 'no STARTTLS offered inside TLS');
      assert.equal((await client.send('sender@client.example.net', [address], message(tag))).final!.code, 250);
      await client.quit();
      assert.equal((await waitForDelivery('alice', tag)).length, 1);
    } finally {
      await secure.stop(1000);
    }
  });

  test('with upstream.xclient off, Postfix sees the proxy as the client', async () => {
    const noXclient = await startTestProxy({ upstream: { port: services.postfixPort, xclient: false } });
    try {
      const { address, tag } = taggedAddress();
      const client = await SmtpTestClient.afterEhlo(noXclient.port, 'real-client.example.net');
      assert.equal((await client.send('sender@client.example.net', [address], message(tag))).final!.code, 250);
      await client.quit();
      const [delivered] = await waitForDelivery('alice', tag);
      assert.match(headerOf(delivered!, 'Received') ?? '', /^from proxy\.example\.test \(/);
    } finally {
      await noXclient.stop(1000);
    }
  });

  test('a client that left cleanly hands its upstream session to the next, with that client\'s own XCLIENT', async () => {
    // The clients come from 127.0.0.1, which the test Postfix authorizes for XCLIENT: only
    // then does the upstream take the next client's identity on the same session.
    const pooled = await startTestProxy({ upstream: { port: services.postfixPort } }, { connect: counting });
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const before = opened();
      const received: string[] = [];
      for (const helo of ['first-client.example.net', 'second-client.example.net']) {
        const { address, tag } = taggedAddress();
        const client = await SmtpTestClient.afterEhlo(pooled.port, helo);
        assert.equal((await client.send('sender@client.example.net', [address], message(tag))).final!.code, 250);
        await client.quit();
        await new Promise((resolve) => setTimeout(resolve, 50));
        received.push(headerOf((await waitForDelivery('alice', tag))[0]!, 'Received') ?? '');
      }
      assert.equal(opened() - before, 1, 'one upstream session served both clients');
      assert.match(received[0]!, /^from first-client\.example\.net /);
      assert.match(received[1]!, /^from second-client\.example\.net /);
      // A session on which the upstream refused something is not handed on.
      const refused = await SmtpTestClient.afterEhlo(pooled.port);
      await refused.command('MAIL FROM:<sender@client.example.net>');
      assert.equal((await refused.command('RCPT TO:<nobody@example.test>')).code, 550);
      await refused.quit();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const after = await SmtpTestClient.afterEhlo(pooled.port);
      assert.equal((await after.command('MAIL FROM:<sender@client.example.net>')).code, 250);
      await after.quit();
      assert.equal(opened() - before, 2);
    } finally {
      await pooled.stop(1000);
    }
  });

  test('a connection that never reaches MAIL never opens an upstream session', async () => {
    const before = opened();
    const client = await SmtpTestClient.afterEhlo(proxy.port);
    assert.equal((await client.command('NOOP')).code, 250);
    await client.quit();
    assert.equal(opened(), before);
  });

  test('a scan stage that rejects gives its reply and Postfix receives nothing', async () => {
    const rejecting = await startTestProxy(
      { upstream: { port: services.postfixPort } },
      {
        scanStage: {
          run: async () => ({ action: 'reject', reason: 'test', reply: { code: 554, enhanced: '5.7.1', text: 'Rejected by test double' } }),
        },
      },
    );
    try {
      const { address, tag } = taggedAddress();
      const client = await SmtpTestClient.afterEhlo(rejecting.port);
      const result = await client.send('sender@client.example.net', [address], message(tag));
      // The upstream transaction was reset: the next one on the same connection works.
      const next = await client.command('MAIL FROM:<sender@client.example.net>');
      await client.quit();
      assert.equal(result.final!.last, '554 5.7.1 Rejected by test double');
      assert.equal(next.code, 250);
      assert.ok(await nothingDelivered('alice', tag));
    } finally {
      await rejecting.stop(1000);
    }
  });

  test('a scan stage that throws gives a generic 451 4.3.0 and no internal text', async () => {
    const broken = await startTestProxy(
      { upstream: { port: services.postfixPort } },
      { scanStage: { run: async () => { throw new Error('secret internal detail'); } } },
    );
    try {
      const { address, tag } = taggedAddress();
      const client = await SmtpTestClient.afterEhlo(broken.port);
      const result = await client.send('sender@client.example.net', [address], message(tag));
      await client.quit();
      assert.equal(result.final!.last, '451 4.3.0 Internal error, please try again later');
      assert.ok(await nothingDelivered('alice', tag));
    } finally {
      await broken.stop(1000);
    }
  });
});
