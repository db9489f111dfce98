import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InternalError, UpstreamMissingExtensionError } from '../../../src/errors.js';
import { UpstreamClient } from '../../../src/upstream/client.js';
import { clientOptions, GREETING, serve } from './fake-server.js';

describe('XCLIENT', { timeout: 30_000 }, () => {
  const WITH_XCLIENT = `
    S: 220 mx.test ESMTP
    C: EHLO proxy.test
    S: 250-mx.test
    S: 250-SIZE 1000
    S: 250 XCLIENT NAME ADDR HELO PORT
  `;

  test('sends only offered attributes, xtext-encoded; after the 220 greets again and refreshes capabilities', async (t) => {
    const server = await serve(t, (c) => c.play(`${WITH_XCLIENT}
      C: XCLIENT HELO=weird+20helo+2Bname+3Dx PORT=4242 NAME=client.example.org ADDR=192.0.2.1
      S: 220 mx.test ESMTP
      C: EHLO weird helo+name=x
      S: 250-mx.test
      S: 250-SIZE 5000
      S: 250 8BITMIME
    `));
    const client = await UpstreamClient.connect(clientOptions(server.port));
    const reply = await client.xclient(
      { NAME: 'client.example.org', ADDR: '192.0.2.1', PROTO: 'ESMTP', LOGIN: 'bob', HELO: 'weird helo+name=x', PORT: '4242', DESTADDR: undefined },
      'weird helo+name=x',
    );
    assert.deepEqual(reply, { code: 250, enhanced: undefined, text: 'mx.test SIZE 5000 8BITMIME' });
    assert.equal(client.capabilities.size, 5000);
    assert.equal(client.capabilities.has('XCLIENT'), false);
    await server.script();
  });

  test('XCLIENT answered 250 (smtp-sink, Postfix before 2.3): no EHLO follows, capabilities kept', async (t) => {
    const server = await serve(t, (c) => c.play(`${WITH_XCLIENT}
      C: XCLIENT NAME=client.example.org
      S: 250 2.0.0 Ok
      C: NOOP
      S: 250 Ok
    `));
    const client = await UpstreamClient.connect(clientOptions(server.port));
    assert.deepEqual(await client.xclient({ NAME: 'client.example.org' }, 'helo'), { code: 250, enhanced: '2.0.0', text: 'Ok' });
    assert.equal(client.capabilities.size, 1000);
    await client.command('NOOP');
    await server.script();
  });

  test('a refused XCLIENT is returned, not thrown, and no EHLO follows', async (t) => {
    const server = await serve(t, (c) => c.play(`${WITH_XCLIENT}
      C: XCLIENT ADDR=192.0.2.1
      S: 550 5.7.0 Error: insufficient authorization
      C: NOOP
      S: 250 Ok
    `));
    const client = await UpstreamClient.connect(clientOptions(server.port));
    assert.deepEqual(await client.xclient({ ADDR: '192.0.2.1' }, 'helo'), { code: 550, enhanced: '5.7.0', text: 'Error: insufficient authorization' });
    await client.command('NOOP');
    await server.script();
  });

  test('long attributes go in several XCLIENT commands, NAME and ADDR in the last, one EHLO at the end', async (t) => {
    const name = `${'n'.repeat(60)}.example.org`;
    const helo = 'h'.repeat(450);
    const server = await serve(t, async (c) => {
      await c.play(`${WITH_XCLIENT}
        C: XCLIENT HELO=${helo}
        S: 220 mx.test ESMTP
        C: XCLIENT NAME=${name} ADDR=192.0.2.1
        S: 220 mx.test ESMTP
        C: EHLO ${helo}
        S: 250 mx.test
      `);
    });
    const client = await UpstreamClient.connect(clientOptions(server.port));
    assert.equal((await client.xclient({ NAME: name, ADDR: '192.0.2.1', HELO: helo }, helo)).code, 250);
    assert.equal(client.capabilities.keywords.size, 0);
    await server.script();
  });

  test('a later command refused after an earlier 220: greets again so the capabilities are true, returns the refusal', async (t) => {
    const helo = 'h'.repeat(480);
    const server = await serve(t, async (c) => {
      await c.play(`${WITH_XCLIENT}
        C: XCLIENT HELO=${helo}
        S: 220 mx.test ESMTP
        C: XCLIENT ADDR=IPV6:2001:db8::1
        S: 501 5.5.4 Bad ADDR syntax: IPV6:2001:db8::1
        C: EHLO ${helo}
        S: 250-mx.test
        S: 250 XCLIENT NAME ADDR HELO PORT
      `);
    });
    const client = await UpstreamClient.connect(clientOptions(server.port));
    const reply = await client.xclient({ ADDR: 'IPV6:2001:db8::1', HELO: helo }, helo);
    assert.equal(reply.code, 501);
    assert.ok(client.capabilities.xclientAttributes.has('ADDR'));
    await server.script();
  });

  test('XCLIENT not offered: UpstreamMissingExtensionError, nothing sent', async (t) => {
    const server = await serve(t, (c) => c.play(`${GREETING}
      C: NOOP
      S: 250 Ok
    `));
    const client = await UpstreamClient.connect(clientOptions(server.port));
    await assert.rejects(client.xclient({ ADDR: '192.0.2.1' }, 'helo'), UpstreamMissingExtensionError);
    await client.command('NOOP');
    await server.script();
  });

  test('a HELO name with CR or LF: InternalError before anything is sent', async (t) => {
    const server = await serve(t, (c) => c.play(`${WITH_XCLIENT}
      C: NOOP
      S: 250 Ok
    `));
    const client = await UpstreamClient.connect(clientOptions(server.port));
    await assert.rejects(client.xclient({ ADDR: '192.0.2.1' }, 'x\r\nRSET'), InternalError);
    await client.command('NOOP');
    await server.script();
  });
});
