import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { bodyOf, services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js';
import { SEND_PATHS } from '../helpers/send-paths.js';

const MiB = 1024 * 1024;
// Larger than the bound below, so a proxy that held the message in memory could not pass; under
// the test Postfix's message_size_limit (100 MiB).
const MESSAGE = 90 * MiB;
// V8 collects dead buffers only once about 64 MiB of them have piled up when the process is busy
// elsewhere, so peak RSS may grow by that much whatever the message's size; streaming keeps the
// growth below the message itself.
const BOUND = 80 * MiB;

describe('a 90 MB message through the proxy process to a real Postfix', () => {
  let proxy: ProxyProcess;
  before(async () => {
    proxy = await startProxyProcess({ upstream: { port: services.postfixPort }, limits: { greetDelay: 0, maxMessageSize: 100 * MiB } });
  });
  after(() => proxy.stop());

  test('is delivered intact while the proxy\'s memory grows by less than the message (it streams)', async () => {
    const { address, tag } = taggedAddress();
    // Settle the process first: its baseline includes the TypeScript loader.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const before = await proxy.memory();
    const client = await SmtpTestClient.afterEhlo(proxy.port);
    assert.equal((await client.command('MAIL FROM:<sender@client.example.net>')).code, 250);
    assert.equal((await client.command(`RCPT TO:<${address}>`)).code, 250);
    assert.equal((await client.command('DATA')).code, 354);
    const line = `${'0123456789abcdef'.repeat(4)}\r\n`;
    const block = Buffer.from(line.repeat(Math.floor(MiB / line.length)));
    const hash = createHash('sha256');
    client.write(`Subject: ${tag}\r\n\r\n`);
    for (let sent = 0; sent < MESSAGE; sent += block.length) {
      client.write(block);
      hash.update(block.toString().replace(/\r\n/g, '\n'));
      // Let the socket drain now and then, like a real sender, instead of queueing the whole message here.
      if (sent % (4 * MiB) === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    client.write('.\r\n');
    const final = await client.read(120_000);
    await client.quit();
    const after = await proxy.memory();
    assert.equal(final.code, 250, final.last);
    assert.match(final.last, SEND_PATHS[0].final, 'sent as one BDAT: the spool streamed without a dot-stuffing pass');
    const growth = after.peak - before.rss;
    console.log(`proxy RSS before ${(before.rss / MiB).toFixed(1)} MiB, peak ${(after.peak / MiB).toFixed(1)} MiB, growth ${(growth / MiB).toFixed(1)} MiB`);
    assert.ok(growth < BOUND, `peak RSS grew by ${(growth / MiB).toFixed(1)} MiB`);
    const [delivered] = await waitForDelivery('alice', tag, 1, 60_000);
    assert.ok(delivered, 'delivered');
    assert.equal(createHash('sha256').update(bodyOf(delivered)).digest('hex'), hash.digest('hex'));
  });
});
