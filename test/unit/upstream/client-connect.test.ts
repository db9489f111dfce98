import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { describe, test } from 'node:test';
import { UpstreamClosedError, UpstreamTimeoutError, UpstreamUnavailableError } from '../../../src/errors.js';
import { replies } from '../../../src/smtp/replies.js';
import { UpstreamClient } from '../../../src/upstream/client.js';
import { clientOptions, freePort, refusedWith, serve } from './fake-server.js';

describe('connecting', { timeout: 30_000 }, () => {
  test('banner 554: UpstreamRefusedError with the reply, and QUIT is sent', async (t) => {
    const server = await serve(t, (c) => c.play(`
      S: 554 5.7.1 No SMTP service here
      C: QUIT
      S: 221 2.0.0 Bye
    `));
    await assert.rejects(UpstreamClient.connect(clientOptions(server.port)), refusedWith(554, 'No SMTP service here'));
    await server.script();
  });

  test('banner 421 and hang-up: UpstreamRefusedError', async (t) => {
    const server = await serve(t, async (c) => {
      c.send('421 4.3.2 Service shutting down');
      c.socket.end();
    });
    await assert.rejects(UpstreamClient.connect(clientOptions(server.port)), refusedWith(421, 'Service shutting down'));
  });

  test('connection refused: UpstreamUnavailableError', async () => {
    const port = await freePort();
    await assert.rejects(UpstreamClient.connect(clientOptions(port)), (error: unknown) => {
      assert.ok(error instanceof UpstreamUnavailableError);
      assert.match(error.message, /ECONNREFUSED/);
      assert.deepEqual(error.reply, replies.upstreamUnavailable);
      return true;
    });
  });

  test('connect timeout: UpstreamUnavailableError after connectTimeout', async (t) => {
    // A listener whose process never accepts: once its backlog is full, SYNs go unanswered.
    const child = spawn(process.execPath, ['-e', `
      const server = require('net').createServer().listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
        process.stdout.write(server.address().port + '\\n');
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20000);
      });`], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => child.kill());
    const [data] = (await once(child.stdout, 'data')) as [Buffer];
    const port = Number(String(data).trim());
    const fillers: net.Socket[] = [];
    t.after(() => fillers.forEach((socket) => socket.destroy()));
    for (let i = 0; i < 2; i++) {
      const socket = net.connect({ host: '127.0.0.1', port });
      fillers.push(socket);
      await once(socket, 'connect');
    }
    const started = Date.now();
    await assert.rejects(UpstreamClient.connect(clientOptions(port, { connectTimeout: 200 })), (error: unknown) => {
      assert.ok(error instanceof UpstreamUnavailableError);
      assert.match(error.message, /timed out after 200 ms/);
      return true;
    });
    assert.ok(Date.now() - started < 1500);
  });

  test('no banner: UpstreamTimeoutError after commandTimeout, connection closed', async (t) => {
    const server = await serve(t, async (c) => {
      await c.readUntilClose();
    });
    await assert.rejects(UpstreamClient.connect(clientOptions(server.port, { commandTimeout: 200 })), UpstreamTimeoutError);
    await server.script();
    assert.equal(server.connections[0]?.received.length, 0);
  });

  test('an already aborted signal: rejects before connecting', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(UpstreamClient.connect(clientOptions(1, { signal: controller.signal })), UpstreamClosedError);
  });

  test('abort while waiting for the banner: UpstreamClosedError', async (t) => {
    const controller = new AbortController();
    const server = await serve(t, async (c) => {
      controller.abort(new Error('client went away'));
      await c.readUntilClose();
    });
    await assert.rejects(UpstreamClient.connect(clientOptions(server.port, { signal: controller.signal })), (error: unknown) => {
      assert.ok(error instanceof UpstreamClosedError);
      assert.equal((error.cause as Error).message, 'client went away');
      return true;
    });
    await server.script();
  });
});

describe('greeting', { timeout: 30_000 }, () => {
  test('EHLO: banner and capabilities', async (t) => {
    const server = await serve(t, async (c) => {
      await c.play(`
        S: 220 mx.test ESMTP Postfix
        C: EHLO proxy.test
        S: 250-mx.test
        S: 250-PIPELINING
        S: 250-SIZE 10240000
        S: 250-STARTTLS
        S: 250-XCLIENT NAME ADDR PROTO HELO
        S: 250-ENHANCEDSTATUSCODES
        S: 250-8BITMIME
        S: 250 SMTPUTF8
        C: QUIT
        S: 221 2.0.0 Bye
      `);
    });
    const client = await UpstreamClient.connect(clientOptions(server.port));
    assert.deepEqual(client.banner, { code: 220, enhanced: undefined, text: 'mx.test ESMTP Postfix' });
    assert.equal(client.capabilities.size, 10240000);
    assert.equal(client.capabilities.starttls, true);
    assert.equal(client.capabilities.smtpUtf8, true);
    assert.deepEqual([...client.capabilities.xclientAttributes], ['NAME', 'ADDR', 'PROTO', 'HELO']);
    assert.equal(client.secure, false);
    assert.equal(client.closed, false);
    await client.quit();
    assert.equal(client.closed, true);
    await client.closedPromise;
    await server.script();
  });

  test('EHLO refused with 502: HELO, no extensions', async (t) => {
    const server = await serve(t, (c) => c.play(`
      S: 220 old.test SMTP
      C: EHLO proxy.test
      S: 502 5.5.2 Error: command not recognized
      C: HELO proxy.test
      S: 250 old.test
    `));
    const client = await UpstreamClient.connect(clientOptions(server.port));
    assert.equal(client.capabilities.keywords.size, 0);
    await server.script();
  });

  test('EHLO and HELO refused: UpstreamRefusedError', async (t) => {
    const server = await serve(t, (c) => c.play(`
      S: 220 old.test SMTP
      C: EHLO proxy.test
      S: 500 what
      C: HELO proxy.test
      S: 550 5.7.1 Go away
    `));
    await assert.rejects(UpstreamClient.connect(clientOptions(server.port)), refusedWith(550, 'Go away'));
  });

  test('EHLO answered 4xx: UpstreamRefusedError, no HELO', async (t) => {
    const server = await serve(t, async (c) => {
      await c.play(`
        S: 220 mx.test
        C: EHLO proxy.test
        S: 421 4.7.0 Try again later
      `);
      assert.equal((await c.readUntilClose()).length, 0);
    });
    await assert.rejects(UpstreamClient.connect(clientOptions(server.port)), refusedWith(421, 'Try again later'));
    await server.script();
  });
});
