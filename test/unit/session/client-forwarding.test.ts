import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { forwardClient, xforwardAttributes, type ForwardableIdentity } from '../../../src/session/client-forwarding.js';
import { UpstreamNotices } from '../../../src/session/upstream-notices.js';
import { UpstreamClient } from '../../../src/upstream/client.js';
import { capturedLogger } from '../../helpers/captured-logger.js';
import { clientOptions, serve } from '../upstream/fake-server.js';

const own: ForwardableIdentity = {
  remoteAddress: '192.0.2.7',
  remotePort: 40123,
  localAddress: '127.0.0.1',
  localPort: 25,
  clientHostname: '[192.0.2.7]',
  hostNameAppearsAs: 'client.example.net',
  openingCommand: 'EHLO',
};

describe('xforwardAttributes', () => {
  test('a client of our own: every attribute, [UNAVAILABLE] for what is not known, SOURCE=REMOTE', async () => {
    const { attributes } = await xforwardAttributes({ ...own, xForward: new Map() });
    assert.deepEqual(attributes, {
      NAME: '[UNAVAILABLE]', ADDR: '192.0.2.7', PORT: '40123', PROTO: 'ESMTP', HELO: 'client.example.net', IDENT: '[UNAVAILABLE]', SOURCE: 'REMOTE',
    });
  });

  test('IPv6 addresses carry the IPV6: prefix', async () => {
    const { attributes } = await xforwardAttributes({ ...own, remoteAddress: '2001:db8::7', clientHostname: '[2001:db8::7]' });
    assert.equal(attributes.ADDR, 'IPV6:2001:db8::7');
  });

  test('a client a trusted peer named: passed on as the peer named it, without our own lookups', async () => {
    // smtp-server has put the forwarded ADDR, NAME and HELO into the session already.
    const xForward = new Map<string, string | number | false>([
      ['ADDR:DEFAULT', '127.0.0.1'], ['ADDR', '203.0.113.9'], ['NAME', 'mx.sender.example'], ['PORT', 5012],
      ['PROTO', 'ESMTP'], ['HELO', 'mx.sender.example'], ['IDENT', '4FqR1x2Yz'], ['SOURCE', 'REMOTE'],
    ]);
    const { attributes } = await xforwardAttributes({ ...own, remoteAddress: '203.0.113.9', clientHostname: 'mx.sender.example', xForward });
    assert.deepEqual(attributes, {
      NAME: 'mx.sender.example', ADDR: '203.0.113.9', PORT: '5012', PROTO: 'ESMTP', HELO: 'mx.sender.example', IDENT: '4FqR1x2Yz', SOURCE: 'REMOTE',
    });
  });

  test('what the peer left unavailable stays unavailable; a HELO Postfix would refuse is cut', async () => {
    const xForward = new Map<string, string | number | false>([['ADDR', '203.0.113.9'], ['NAME', ''], ['PORT', 0], ['HELO', 'h'.repeat(300)]]);
    const { attributes, adjusted } = await xforwardAttributes({ ...own, remoteAddress: '203.0.113.9', xForward });
    assert.equal(attributes.NAME, '[UNAVAILABLE]');
    assert.equal(attributes.PORT, '[UNAVAILABLE]');
    assert.equal(attributes.PROTO, '[UNAVAILABLE]');
    assert.equal(attributes.HELO, 'h'.repeat(255));
    assert.deepEqual(adjusted, ['HELO cut to 255 bytes (was 300)']);
  });
});

describe('forwardClient', { timeout: 30_000 }, () => {
  const offering = (attributes: string) => `
    S: 220 mx.test ESMTP
    C: EHLO proxy.test
    S: 250-mx.test
    S: 250 XFORWARD ${attributes}
  `;

  test('sends the offered attributes and goes on to MAIL on the same session, without a new greeting', async (t) => {
    const server = await serve(t, (c) => c.play(`${offering('NAME ADDR PROTO HELO SOURCE PORT IDENT')}
      C: XFORWARD NAME=[UNAVAILABLE] ADDR=192.0.2.7 PORT=40123 PROTO=ESMTP HELO=client.example.net IDENT=[UNAVAILABLE] SOURCE=REMOTE
      S: 250 2.0.0 Ok
      C: MAIL FROM:<a@example.net>
      S: 250 2.1.0 Ok
    `));
    const client = await UpstreamClient.connect(clientOptions(server.port));
    assert.equal(await forwardClient(client, own, capturedLogger().logger, new UpstreamNotices()), true);
    assert.equal((await client.command('MAIL FROM:<a@example.net>')).code, 250);
    await server.script();
    client.destroy();
  });

  test('not offered (or without ADDR): nothing sent, not carried', async (t) => {
    const server = await serve(t, (c) => c.play(`${offering('NAME HELO')}
      C: MAIL FROM:<a@example.net>
      S: 250 2.1.0 Ok
    `));
    const client = await UpstreamClient.connect(clientOptions(server.port));
    assert.equal(await forwardClient(client, own, capturedLogger().logger, new UpstreamNotices()), false);
    assert.equal((await client.command('MAIL FROM:<a@example.net>')).code, 250);
    await server.script();
    client.destroy();
  });

  test('refused: the mail goes on, and the refusal is logged once for many clients', async (t) => {
    const server = await serve(t, (c) => c.play(`${offering('NAME ADDR')}
      C: XFORWARD NAME=[UNAVAILABLE] ADDR=192.0.2.7
      S: 550 5.7.0 Error: insufficient authorization
      C: XFORWARD NAME=[UNAVAILABLE] ADDR=192.0.2.7
      S: 550 5.7.0 Error: insufficient authorization
      C: MAIL FROM:<a@example.net>
      S: 250 2.1.0 Ok
    `));
    const client = await UpstreamClient.connect(clientOptions(server.port));
    const { logger, lines } = capturedLogger();
    const notices = new UpstreamNotices();
    assert.equal(await forwardClient(client, own, logger, notices), false);
    assert.equal(await forwardClient(client, own, logger, notices), false);
    assert.equal((await client.command('MAIL FROM:<a@example.net>')).code, 250);
    await server.script();
    const warned = lines.filter((line) => String(line.msg).includes('refused XFORWARD'));
    assert.equal(warned.length, 1);
    assert.match(String(warned[0]!.msg), /^upstream 127\.0\.0\.1:\d+ refused XFORWARD: its log and Received header name the proxy instead of the client$/);
    client.destroy();
  });
});
