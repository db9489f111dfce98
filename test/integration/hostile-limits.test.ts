import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { nothingDelivered, services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends `text` one byte at a time, `gap` ms apart, until done or the server hangs up. */
async function trickle(client: SmtpTestClient, text: string, gap: number): Promise<void> {
  for (const byte of text) {
    if (client.closed) return;
    client.write(byte);
    await sleep(gap);
  }
}

describe('resource limits against hostile clients', () => {
  let proxy: TestProxy;
  before(async () => {
    proxy = await startTestProxy({
      upstream: { port: services.postfixPort },
      limits: { idleTimeout: '1s', dataTimeout: '2s', maxErrors: 3, maxLineLength: 1000, maxRecipients: 3 },
    });
  });
  after(() => proxy.stop(1000));

  test('slowloris in command mode (a byte every 300 ms) is cut off with 421 4.4.2', async () => {
    const client = await SmtpTestClient.greeted(proxy.port);
    const started = Date.now();
    void trickle(client, 'EHLO slow.example.net\r\n', 300);
    const reply = await client.read(10_000);
    assert.match(reply.last, /^421 4\.4\.2 /);
    await client.closedByServer();
    assert.ok(Date.now() - started < 5000, 'cut off after about idleTimeout, not after the whole line');
  });

  test('slowloris in DATA is cut off by the DATA deadline and nothing is delivered', async () => {
    const { address, tag } = taggedAddress();
    const client = await SmtpTestClient.afterEhlo(proxy.port);
    assert.equal((await client.command('MAIL FROM:<slow@client.example.net>')).code, 250);
    assert.equal((await client.command(`RCPT TO:<${address}>`)).code, 250);
    assert.equal((await client.command('DATA')).code, 354);
    void trickle(client, `Subject: ${tag}\r\n\r\n${'x'.repeat(200)}\r\n.\r\n`, 200);
    const reply = await client.read(15_000);
    assert.match(reply.last, /^421 4\.4\.2 /);
    assert.ok(await nothingDelivered('alice', tag));
  });

  test('more errors than limits.maxErrors end the connection with 421 4.7.0', async () => {
    const client = await SmtpTestClient.afterEhlo(proxy.port);
    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await client.command(`RCPT TO:<nobody${i}@example.test>`));
    assert.deepEqual(replies.map((r) => r.code), [503, 503, 503, 503]);
    assert.match((await client.read()).last, /^421 4\.7\.0 Too many errors/);
    await client.closedByServer();
  });

  test('a command line over limits.maxLineLength gets 421 and the connection is closed', async () => {
    const client = await SmtpTestClient.afterEhlo(proxy.port);
    client.write(`NOOP ${'a'.repeat(2000)}\r\n`);
    assert.match((await client.read()).last, /^421 /);
    await client.closedByServer();
  });

  test('more recipients than limits.maxRecipients get 452 4.5.3', async () => {
    const client = await SmtpTestClient.afterEhlo(proxy.port);
    assert.equal((await client.command('MAIL FROM:<many@client.example.net>')).code, 250);
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await client.command(`RCPT TO:<${taggedAddress().address}>`)).last.slice(0, 9));
    await client.quit();
    assert.deepEqual(codes, ['250 2.1.5', '250 2.1.5', '250 2.1.5', '452 4.5.3']);
  });

  test('2,000 connections from one address: 100 are served, the rest get 421, another address still gets through', async () => {
    // Default timeouts: the 1 s idle timeout of the other tests would free slots mid-flood.
    const flooded = await startTestProxy({ upstream: { port: services.postfixPort }, limits: { maxClientsPerIp: 100, maxClients: 5000 } });
    const sockets: net.Socket[] = [];
    const open = () => new Promise<string>((resolve) => {
      const socket = net.connect(flooded.port, '127.0.0.1');
      sockets.push(socket);
      socket.setEncoding('latin1');
      socket.once('data', (chunk: string) => resolve(chunk.slice(0, 3)));
      socket.once('error', () => resolve('error'));
      socket.once('close', () => resolve('closed'));
    });
    // Opened in waves of 250: a burst beyond the listen backlog (511) stalls in the kernel
    // before the proxy ever sees it. All 2,000 are open at the same time in the end.
    const firstLines: string[] = [];
    for (let wave = 0; wave < 8; wave++) firstLines.push(...(await Promise.all(Array.from({ length: 250 }, open))));
    try {
      const counts = firstLines.reduce<Record<string, number>>((acc, code) => ({ ...acc, [code]: (acc[code] ?? 0) + 1 }), {});
      assert.equal(counts['220'], 100, JSON.stringify(counts));
      assert.equal(counts['421'], 1900, JSON.stringify(counts));
      // A client from another loopback address is not affected by the flood: its mail goes through.
      const { address, tag } = taggedAddress();
      const client = await SmtpTestClient.afterEhlo(flooded.port, 'other.example.net', '127.0.0.2');
      const result = await client.send('other@client.example.net', [address], `Subject: ${tag}\r\n\r\nduring the flood\r\n`);
      await client.quit();
      assert.equal(result.final!.code, 250);
      assert.equal((await waitForDelivery('alice', tag)).length, 1);
    } finally {
      for (const socket of sockets) socket.destroy();
      await flooded.stop(1000);
    }
  });
});
