import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dnsRecordLine, dnsTxtValue, generateDkimKey } from '../../src/dkim/keygen.js';
import { publishRecord, verifyWithDkimpy } from '../helpers/dkim.js';
import { startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js';
import { services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';

const MiB = 1024 * 1024;
const MESSAGE = 90 * MiB;
// Signing reads the spooled message once to hash it and once to send it, holding only its
// header block. What that costs in memory is measured against the same message relayed
// unsigned by a twin proxy process on the same Node: the garbage V8 keeps before it collects
// differs by version (50 MB on Node 20: 37 MiB unsigned, 34 signed; on Node 24: 65-72
// unsigned, 85-104 signed, the hashing pass's reads freed late), but not with the message's
// size; held once more in memory, the message would add its own size. 90 MB (the test
// Postfix takes 100 MiB) keeps that well clear of the garbage.
const HELD_ONCE = MESSAGE;

describe('a 90 MB message signed by the proxy process on its way to a real Postfix', () => {
  const selector = `big${randomBytes(4).toString('hex')}`;
  let keyDir: string;
  let signing: ProxyProcess;
  let plain: ProxyProcess;

  before(async () => {
    keyDir = await mkdtemp(path.join(os.tmpdir(), 'ssp-dkim-large-'));
    const { privateKeyPem, publicKey } = generateDkimKey('rsa');
    const file = path.join(keyDir, 'dkim.test.key');
    await writeFile(file, privateKeyPem, { mode: 0o644 });
    await publishRecord(dnsRecordLine('dkim.test', selector, dnsTxtValue('rsa', publicKey)));
    const config = { upstream: { port: services.postfixPort }, limits: { greetDelay: 0, maxMessageSize: 100 * MiB } };
    signing = await startProxyProcess({ ...config, dkim: { keys: [{ domain: 'dkim.test', selector, file }], networks: ['127.0.0.1'] } });
    plain = await startProxyProcess(config);
  });

  after(async () => {
    await signing?.stop();
    await plain?.stop();
    await rm(keyDir, { recursive: true, force: true });
  });

  test('its signature passes after delivery, and signing grew the proxy by less than the message once more', async () => {
    const unsigned = await relayLarge(plain, 'unsigned');
    const signed = await relayLarge(signing, 'signed');
    assert.ok(signed.growth - unsigned.growth < HELD_ONCE, `signing added ${((signed.growth - unsigned.growth) / MiB).toFixed(1)} MiB of peak RSS`);
    const [delivered] = await waitForDelivery('alice', signed.tag, 1, 60_000);
    assert.ok(delivered, 'delivered');
    assert.deepEqual(await verifyWithDkimpy(delivered), [{ selector, algorithm: 'rsa-sha256', result: 'pass' }]);
  });
});

/** Sends the large message through `proxy`; its peak RSS growth while it did. */
async function relayLarge(proxy: ProxyProcess, label: string): Promise<{ tag: string; growth: number }> {
  const { address, tag } = taggedAddress();
  // Settle the process first: its baseline includes the TypeScript loader.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const start = await proxy.memory();
  const client = await SmtpTestClient.afterEhlo(proxy.port);
  assert.equal((await client.command('MAIL FROM:<alice@dkim.test>')).code, 250);
  assert.equal((await client.command(`RCPT TO:<${address}>`)).code, 250);
  assert.equal((await client.command('DATA')).code, 354);
  const line = `${'0123456789abcdef'.repeat(4)} \r\n`;
  const block = Buffer.from(line.repeat(Math.floor(MiB / line.length)));
  client.write(`From: alice@dkim.test\r\nTo: ${address}\r\nSubject: ${tag}\r\n\r\n`);
  for (let sent = 0; sent < MESSAGE; sent += block.length) {
    client.write(block);
    if (sent % (4 * MiB) === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  client.write('.\r\n');
  const final = await client.read(120_000);
  await client.quit();
  const end = await proxy.memory();
  assert.equal(final.code, 250, final.last);
  const growth = end.peak - start.rss;
  console.log(`${label} ${MESSAGE / MiB} MiB: proxy RSS before ${(start.rss / MiB).toFixed(1)} MiB, peak ${(end.peak / MiB).toFixed(1)} MiB, growth ${(growth / MiB).toFixed(1)} MiB`);
  return { tag, growth };
}
