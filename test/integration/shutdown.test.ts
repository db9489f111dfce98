import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { nothingDelivered, services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { startProxyProcess } from '../helpers/proxy-process.js';

const config = (extra: Record<string, unknown> = {}) => ({
  upstream: { port: services.postfixPort },
  limits: { greetDelay: 0 },
  shutdown: { timeout: '3s' },
  ...extra,
});

/** A client with a transaction under way: after RCPT, before DATA. */
async function midTransaction(port: number, address: string): Promise<SmtpTestClient> {
  const client = await SmtpTestClient.afterEhlo(port);
  assert.equal((await client.command('MAIL FROM:<sender@client.example.net>')).code, 250);
  assert.equal((await client.command(`RCPT TO:<${address}>`)).code, 250);
  return client;
}

describe('shutdown and crashes of the proxy process', () => {
  test('SIGTERM: idle clients and new connections get 421, the transaction in flight finishes, exit 0', async () => {
    const proxy = await startProxyProcess(config());
    const { address, tag } = taggedAddress();
    const idle = await SmtpTestClient.afterEhlo(proxy.port);
    const busy = await midTransaction(proxy.port, address);
    const exited = proxy.stop('SIGTERM');
    assert.match((await idle.read()).last, /^421 4\.3\.2 /);
    const late = await SmtpTestClient.connect(proxy.port);
    assert.match((await late.read()).last, /^421 /);
    assert.equal((await busy.command('DATA')).code, 354);
    busy.write(`Subject: ${tag}\r\n\r\nsent while draining\r\n.\r\n`);
    assert.equal((await busy.read()).code, 250);
    assert.equal(await exited, 0);
    assert.equal((await waitForDelivery('alice', tag)).length, 1);
  });

  test('SIGTERM: a transaction that does not finish in shutdown.timeout is cut off, never accepted', async () => {
    const proxy = await startProxyProcess(config({ shutdown: { timeout: '1s' } }));
    const { address, tag } = taggedAddress();
    const stalled = await midTransaction(proxy.port, address);
    assert.equal((await stalled.command('DATA')).code, 354);
    stalled.write(`Subject: ${tag}\r\n\r\nhalf a message`);
    const started = Date.now();
    assert.equal(await proxy.stop('SIGTERM'), 0);
    assert.ok(Date.now() - started < 10_000);
    await stalled.closedByServer();
    assert.ok(await nothingDelivered('alice', tag));
  });

  test('kill -9 during DATA: the client sees a dropped connection, no 250, and nothing is delivered', async () => {
    const proxy = await startProxyProcess(config());
    const { address, tag } = taggedAddress();
    const client = await midTransaction(proxy.port, address);
    assert.equal((await client.command('DATA')).code, 354);
    client.write(`Subject: ${tag}\r\n\r\n${'line of the message\r\n'.repeat(1000)}`);
    assert.equal(await proxy.stop('SIGKILL'), 'SIGKILL');
    await client.closedByServer();
    await assert.rejects(client.read(1000), /connection closed/);
    assert.ok(await nothingDelivered('alice', tag));
    // After a restart nothing was half-sent: the same message goes through once.
    const restarted = await startProxyProcess(config());
    try {
      const again = await SmtpTestClient.afterEhlo(restarted.port);
      const result = await again.send('sender@client.example.net', [address], `Subject: ${tag}\r\n\r\nretried\r\n`);
      await again.quit();
      assert.equal(result.final!.code, 250);
      assert.equal((await waitForDelivery('alice', tag)).length, 1);
    } finally {
      await restarted.stop();
    }
  });

  test('SIGTERM exits 0 even when nobody reads the logs any more (regression: a log flush retried EPIPE forever)', async () => {
    const proxy = await startProxyProcess(config());
    proxy.child.stdout!.destroy();
    const started = Date.now();
    const exited = await Promise.race([proxy.stop('SIGTERM'), new Promise((resolve) => setTimeout(() => resolve('hung'), 10_000))]);
    if (exited === 'hung') await proxy.stop('SIGKILL');
    assert.equal(exited, 0);
    assert.ok(Date.now() - started < 10_000);
  });

  test('with workers: 2, SIGTERM stops every worker and the primary exits 0', async () => {
    const proxy = await startProxyProcess(config({ workers: 2 }));
    const { address, tag } = taggedAddress();
    const client = await SmtpTestClient.afterEhlo(proxy.port);
    assert.equal((await client.send('sender@client.example.net', [address], `Subject: ${tag}\r\n\r\nhi\r\n`)).final!.code, 250);
    assert.equal(await proxy.stop('SIGTERM'), 0);
    assert.equal((await waitForDelivery('alice', tag)).length, 1);
  });
});
