import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { capturedLogger } from '../helpers/captured-logger.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';

/**
 * XFORWARD from the proxy's own clients, as raw commands: only a peer in listen.xforward.trusted
 * is offered it and may use it; what it names reaches the upstream (the after-filter smtpd,
 * which takes XFORWARD from the proxy) and the proxy's log.
 */
const PEER = '127.0.0.5';

describe('XFORWARD in (listen.xforward.trusted)', () => {
  let proxy: TestProxy;
  const captured = capturedLogger();
  before(async () => {
    proxy = await startTestProxy(
      { listen: { xforward: { trusted: [`${PEER}/32`] } }, upstream: { port: services.postfixAfterFilterPort, xclient: false } },
      { logger: captured.logger },
    );
  });
  after(() => proxy?.stop(1000));

  test('a client outside the trusted ranges is not offered XFORWARD, and is refused it', async () => {
    const client = await SmtpTestClient.greeted(proxy.port, '127.0.0.2');
    const ehlo = await client.command('EHLO client.example.net');
    assert.ok(!ehlo.lines.some((line) => line.startsWith('XFORWARD')), ehlo.lines.join(' | '));
    assert.equal((await client.command('XFORWARD ADDR=203.0.113.9')).last, '550 5.7.0 Error: Not allowed');
    await client.quit();
  });

  test('a trusted peer names the client: Postfix logs it, the proxy logs it as the client', async () => {
    const client = await SmtpTestClient.greeted(proxy.port, PEER);
    const ehlo = await client.command('EHLO mx.example.test');
    assert.ok(ehlo.lines.includes('XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE'), ehlo.lines.join(' | '));
    assert.equal((await client.command('XFORWARD NAME=mail.sender.example ADDR=203.0.113.9 PORT=4711 HELO=helo.sender.example')).code, 250);
    assert.equal((await client.command('XFORWARD PROTO=ESMTP SOURCE=REMOTE IDENT=4FqR1x2Yz')).code, 250);
    const { address, tag } = taggedAddress();
    const result = await client.send('a@sender.example', [address], 'Subject: forwarded\r\n\r\nHello.\r\n');
    await client.quit();
    assert.equal(result.final?.code, 250, result.final?.last);
    const queueId = /queued as (\w+)/.exec(result.final!.last)![1]!;
    assert.ok((await waitForDelivery('alice', tag))[0]);
    const log = await readFile(services.postfixLog, 'utf8');
    assert.match(log, new RegExp(`${queueId}: client=localhost\\[127\\.0\\.0\\.1\\], orig_queue_id=4FqR1x2Yz, orig_client=mail\\.sender\\.example\\[203\\.0\\.113\\.9\\]`));
    const relayed = captured.lines.find((line) => line.msg === 'message relayed' && line.queueId === queueId);
    assert.equal(relayed?.client, '203.0.113.9');
    assert.equal(relayed?.peer, PEER);
  });
});
