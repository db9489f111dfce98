import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mailWithClient, xforwardAttributes, type ForwardableIdentity } from '../../../src/session/client-forwarding.js';
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

describe('mailWithClient', { timeout: 30_000 }, () => {
  const offering = (attributes: string, pipelining = true) => `
    S: 220 mx.test ESMTP
    C: EHLO proxy.test
    S: 250-mx.test
    ${pipelining ? 'S: 250-PIPELINING' : ''}
    S: 250 XFORWARD ${attributes}
  `;
  const mail = 'MAIL FROM:<a@example.net>';

  // The server answers only once both lines are in: a client in lockstep would wait forever.
  test('with PIPELINING: the offered attributes and MAIL leave together, the reply to MAIL comes back', async (t) => {
    const server = await serve(t, (c) => c.play(`${offering('NAME ADDR PROTO HELO SOURCE PORT IDENT')}
      C: XFORWARD NAME=[UNAVAILABLE] ADDR=192.0.2.7 PORT=40123 PROTO=ESMTP HELO=client.example.net IDENT=[UNAVAILABLE] SOURCE=REMOTE
      C: ${mail}
      S: 250 2.0.0 Ok
      S: 250 2.1.0 Sender ok
    `));
    const client = await UpstreamClient.connect(clientOptions(server.port));
    const reply = await mailWithClient(client, own, mail, capturedLogger().logger, new UpstreamNotices());
    assert.deepEqual([reply.code, reply.enhanced, reply.text], [250, '2.1.0', 'Sender ok']);
    await server.script();
    client.destroy();
  });

  test('without PIPELINING: XFORWARD, its reply, then MAIL on the same session, without a new greeting', async (t) => {
    const server = await serve(t, (c) => c.play(`${offering('NAME ADDR', false)}
      C: XFORWARD NAME=[UNAVAILABLE] ADDR=192.0.2.7
      S: 250 2.0.0 Ok
      C: ${mail}
      S: 250 2.1.0 Ok
    `));
    const client = await UpstreamClient.connect(clientOptions(server.port));
    assert.equal((await mailWithClient(client, own, mail, capturedLogger().logger, new UpstreamNotices())).code, 250);
    await server.script();
    client.destroy();
  });

  test('not offered (or without ADDR): MAIL alone', async (t) => {
    const server = await serve(t, (c) => c.play(`${offering('NAME HELO')}
      C: ${mail}
      S: 250 2.1.0 Ok
    `));
    const client = await UpstreamClient.connect(clientOptions(server.port));
    assert.equal((await mailWithClient(client, own, mail, capturedLogger().logger, new UpstreamNotices())).code, 250);
    await server.script();
    client.destroy();
  });

  test('an IPv6 client goes in lockstep, so a 501 to its address is retried without it before MAIL', async (t) => {
    const server = await serve(t, (c) => c.play(`${offering('NAME ADDR')}
      C: XFORWARD NAME=[UNAVAILABLE] ADDR=IPV6:2001:db8::7
      S: 501 5.5.4 Bad XFORWARD command syntax
      C: XFORWARD NAME=[UNAVAILABLE] ADDR=[UNAVAILABLE]
      S: 250 2.0.0 Ok
      C: ${mail}
      S: 250 2.1.0 Ok
    `));
    const client = await UpstreamClient.connect(clientOptions(server.port));
    const { logger, lines } = capturedLogger();
    assert.equal((await mailWithClient(client, { ...own, remoteAddress: '2001:db8::7' }, mail, logger, new UpstreamNotices())).code, 250);
    await server.script();
    assert.equal(lines.filter((line) => String(line.msg).includes('refused XFORWARD')).length, 0);
    client.destroy();
  });

  test('refused: the mail goes on, and the refusal is logged once for many clients', async (t) => {
    const server = await serve(t, (c) => c.play(`${offering('NAME ADDR')}
      C: XFORWARD NAME=[UNAVAILABLE] ADDR=192.0.2.7
      C: ${mail}
      S: 550 5.7.0 Error: insufficient authorization
      S: 250 2.1.0 Ok
      C: RSET
      S: 250 2.0.0 Ok
      C: XFORWARD NAME=[UNAVAILABLE] ADDR=192.0.2.7
      C: ${mail}
      S: 550 5.7.0 Error: insufficient authorization
      S: 250 2.1.0 Ok
    `));
    const client = await UpstreamClient.connect(clientOptions(server.port));
    const { logger, lines } = capturedLogger();
    const notices = new UpstreamNotices();
    assert.equal((await mailWithClient(client, own, mail, logger, notices)).code, 250);
    await client.rset();
    assert.equal((await mailWithClient(client, own, mail, logger, notices)).code, 250);
    await server.script();
    const warned = lines.filter((line) => String(line.msg).includes('refused XFORWARD'));
    assert.equal(warned.length, 1);
    assert.match(String(warned[0]!.msg), /^upstream 127\.0\.0\.1:\d+ refused XFORWARD: its log and Received header name the proxy instead of the client$/);
    client.destroy();
  });
});
