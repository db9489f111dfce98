import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { capturedLogger } from '../helpers/captured-logger.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { headerOf, services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';

const root = path.resolve(import.meta.dirname, '../..');
const withTag = async (name: string, tag: string) =>
  (await readFile(path.join(root, 'fixtures', name), 'latin1')).replace(/^Message-ID: <[^>]*>/m, `Message-ID: <${tag}@client.example.net>`);
const scanners = () => [
  { type: 'clamav', host: '127.0.0.1', port: services.clamdPort },
  { type: 'spamassassin', host: '127.0.0.1', port: services.spamdPort },
];

/** Postfix's own log (maillog_file), where its queue ids are. */
async function postfixLog(): Promise<string> {
  const file = process.env.SSP_POSTFIX_LOG;
  if (!file) throw new Error('SSP_POSTFIX_LOG is not set: run the tests with scripts/with-services.sh');
  return readFile(file, 'utf8');
}

async function sendOne(port: number, from: string, to: string[], message: string) {
  const client = await SmtpTestClient.afterEhlo(port, 'client.example.net', '127.0.0.2');
  const result = await client.send(from, to, message);
  await client.quit();
  return result.final!;
}

describe('observe mode in front of Postfix with the real clamd and spamd', () => {
  const captured = capturedLogger();
  let proxy: TestProxy;
  before(async () => {
    proxy = await startTestProxy({ upstream: { port: services.postfixPort }, policy: { mode: 'observe' }, scanners: scanners() }, { logger: captured.logger });
  });
  after(() => proxy.stop(1000));

  test('EICAR is delivered, tagged with what would have happened, and the log line says it would have been rejected', async () => {
    const { address, tag } = taggedAddress();
    const final = await sendOne(proxy.port, 'sender@client.example.net', [address], await withTag('eicar-attachment.eml', tag));
    assert.match(final.last, /^250 2\.0\.0 Ok: (?:\d+ bytes )?queued as \w+$/);
    const [delivered] = await waitForDelivery('alice', tag);
    assert.ok(delivered, 'delivered');
    assert.match(headerOf(delivered, 'X-Scan-Proxy-Observe')!, /^would reject: 554 5\.7\.1 Message rejected: virus found: Eicar-[\w.-]+$/);
    assert.match(headerOf(delivered, 'X-Virus-Scanned')!, /^clamav infected \(Eicar-[\w.-]+\) at proxy\.example\.test$/);
    const line = captured.lines.find((entry) => entry.msg === 'message relayed' && entry.from === 'sender@client.example.net' && entry.queueId === final.last.split(' ').pop());
    assert.ok(line, 'a message relayed line with the queue id');
    const wouldReject = line.wouldReject as { reason: string; reply: { code: number } };
    assert.match(wouldReject.reason, /^virus Eicar-[\w.-]+$/);
    assert.equal(wouldReject.reply.code, 554);
  });

  test('a sender\'s own X-Scan-Proxy-Observe header is removed from a clean message', async () => {
    const { address, tag } = taggedAddress();
    const forged = (await withTag('clean.eml', tag)).replace(/^Subject:/m, 'X-Scan-Proxy-Observe: nothing to see\r\nSubject:');
    assert.equal((await sendOne(proxy.port, 'sender@client.example.net', [address], forged)).code, 250);
    const [delivered] = await waitForDelivery('alice', tag);
    assert.equal(headerOf(delivered!, 'X-Scan-Proxy-Observe'), undefined);
  });
});

describe('the line each message ends with', () => {
  const captured = capturedLogger();
  let proxy: TestProxy;
  before(async () => {
    proxy = await startTestProxy({ upstream: { port: services.postfixPort }, scanners: scanners() }, { logger: captured.logger });
  });
  after(() => proxy.stop(1000));

  test('a delivered message: session id, client, sender, recipients, each verdict and time, and the queue id Postfix logged it under', async () => {
    const alice = taggedAddress('alice');
    const bob = taggedAddress('bob');
    const final = await sendOne(proxy.port, 'joiner@client.example.net', [alice.address, bob.address], await withTag('clean.eml', alice.tag));
    assert.equal(final.code, 250);
    await waitForDelivery('alice', alice.tag);
    const line = captured.lines.find((entry) => entry.msg === 'message relayed' && entry.from === 'joiner@client.example.net');
    assert.ok(line, 'a message relayed line');
    assert.match(String(line.cid), /^\w+$/);
    assert.equal(line.client, '127.0.0.2');
    assert.equal(line.rcpts, 2);
    const scans = line.scans as { name: string; verdict: { kind: string }; ms: number }[];
    assert.deepEqual(scans.map((scan) => [scan.name, scan.verdict.kind, typeof scan.ms]), [['clamav', 'clean', 'number'], ['spamassassin', 'scored', 'number']]);
    assert.match(String(line.queueId), /^[0-9A-Za-z]+$/);
    const log = await postfixLog();
    assert.ok(log.includes(`${line.queueId}: message-id=<${alice.tag}@client.example.net>`), `Postfix logged ${line.queueId} for the message`);
    assert.ok(log.includes(`${line.queueId}: from=<joiner@client.example.net>`), 'with the same sender');
  });

  test('a refused message: the same facts, the verdicts and the reply, no queue id', async () => {
    const { address, tag } = taggedAddress();
    const final = await sendOne(proxy.port, 'virus@client.example.net', [address], await withTag('eicar-attachment.eml', tag));
    assert.equal(final.code, 554);
    const line = captured.lines.find((entry) => entry.msg === 'message refused' && entry.from === 'virus@client.example.net');
    assert.ok(line, 'a message refused line');
    assert.equal(line.client, '127.0.0.2');
    assert.equal(line.rcpts, 1);
    assert.match(String(line.reason), /^virus Eicar-[\w.-]+$/);
    assert.equal((line.scans as { name: string; verdict: { kind: string } }[])[0]!.verdict.kind, 'infected');
    assert.equal(line.queueId, undefined);
  });
});
