import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { before, describe, test } from 'node:test';
import type tls from 'node:tls';
import {
  UpstreamClosedError,
  UpstreamMissingExtensionError,
  UpstreamProtocolError,
  UpstreamRefusedError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
} from '../../../src/errors.js';
import { replies } from '../../../src/smtp/replies.js';
import { UpstreamClient } from '../../../src/upstream/client.js';
import { clientOptions, freePort, GREETING, makeCertificate, serve } from './fake-server.js';

const refused = (code: number, text: string) => (error: unknown) => {
  assert.ok(error instanceof UpstreamRefusedError, String(error));
  assert.equal(error.upstreamReply.code, code);
  assert.equal(error.upstreamReply.text, text);
  assert.deepEqual(error.reply, replies.upstreamRefused, 'clients see our generic reply, not the upstream text');
  return true;
};

describe('connecting', () => {
  test('banner 554: UpstreamRefusedError with the reply, and QUIT is sent', async (t) => {
    const server = await serve(t, (c) => c.play(`
      S: 554 5.7.1 No SMTP service here
      C: QUIT
      S: 221 2.0.0 Bye
    `));
    await assert.rejects(UpstreamClient.connect(clientOptions(server.port)), refused(554, 'No SMTP service here'));
    await server.script();
  });

  test('banner 421 and hang-up: UpstreamRefusedError', async (t) => {
    const server = await serve(t, async (c) => {
      c.send('421 4.3.2 Service shutting down');
      c.socket.end();
    });
    await assert.rejects(UpstreamClient.connect(clientOptions(server.port)), refused(421, 'Service shutting down'));
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

describe('greeting', () => {
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
    await assert.rejects(UpstreamClient.connect(clientOptions(server.port)), refused(550, 'Go away'));
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
    await assert.rejects(UpstreamClient.connect(clientOptions(server.port)), refused(421, 'Try again later'));
    await server.script();
  });
});

describe('STARTTLS', () => {
  let credentials: { key: string; cert: string };
  before(() => {
    credentials = makeCertificate();
  });
  const BEFORE_TLS = `
    S: 220 mx.test ESMTP
    C: EHLO proxy.test
    S: 250-mx.test
    S: 250-SIZE 1000
    S: 250 STARTTLS
    C: STARTTLS
    S: 220 2.0.0 Ready to start TLS
  `;
  const AFTER_TLS = `
    C: EHLO proxy.test
    S: 250-mx.test
    S: 250-SIZE 2000
    S: 250 AUTH PLAIN
    C: NOOP
    S: 250 2.0.0 Ok
  `;
  const trusting = (mode: 'opportunistic' | 'required') => ({ mode, rejectUnauthorized: true, ca: credentials.cert });

  for (const mode of ['opportunistic', 'required'] as const) {
    test(`${mode}: handshake, then EHLO again and its capabilities replace the first`, async (t) => {
      const server = await serve(t, async (c) => {
        await c.play(BEFORE_TLS);
        await c.startTls(credentials);
        await c.play(AFTER_TLS);
      });
      const client = await UpstreamClient.connect(clientOptions(server.port, { tls: trusting(mode) }));
      assert.equal(client.secure, true);
      assert.equal(client.capabilities.starttls, false);
      assert.equal(client.capabilities.size, 2000);
      assert.equal(client.capabilities.has('AUTH'), true);
      assert.equal((await client.command('NOOP')).code, 250);
      await server.script();
    });
  }

  test('servername is sent as SNI and checked against the certificate; destroy() closes TLS and TCP', async (t) => {
    const server = await serve(t, async (c) => {
      await c.play(BEFORE_TLS);
      await c.startTls(credentials);
      assert.equal((c.socket as tls.TLSSocket & { servername?: string }).servername, 'localhost');
      await c.play(AFTER_TLS);
      await c.readUntilClose();
    });
    const options = clientOptions(server.port, { tls: { ...trusting('required'), servername: 'localhost' } });
    const client = await UpstreamClient.connect(options);
    await client.command('NOOP');
    client.destroy();
    await client.closedPromise;
    await server.script(); // the server saw the connection go: TLS and TCP both closed
  });

  test('required but not offered: UpstreamMissingExtensionError', async (t) => {
    const server = await serve(t, (c) => c.play(GREETING));
    await assert.rejects(UpstreamClient.connect(clientOptions(server.port, { tls: trusting('required') })), UpstreamMissingExtensionError);
  });

  test('required and refused: UpstreamRefusedError', async (t) => {
    const server = await serve(t, (c) => c.play(`
      S: 220 mx.test
      C: EHLO proxy.test
      S: 250-mx.test
      S: 250 STARTTLS
      C: STARTTLS
      S: 454 4.7.0 TLS not available due to local problem
    `));
    await assert.rejects(UpstreamClient.connect(clientOptions(server.port, { tls: trusting('required') })), refused(454, 'TLS not available due to local problem'));
  });

  test('opportunistic and refused: goes on in plaintext', async (t) => {
    const server = await serve(t, (c) => c.play(`
      S: 220 mx.test
      C: EHLO proxy.test
      S: 250-mx.test
      S: 250 STARTTLS
      C: STARTTLS
      S: 454 4.7.0 TLS not available due to local problem
      C: NOOP
      S: 250 Ok
    `));
    const client = await UpstreamClient.connect(clientOptions(server.port, { tls: trusting('opportunistic') }));
    assert.equal(client.secure, false);
    assert.equal((await client.command('NOOP')).code, 250);
    await server.script();
  });

  test('off: STARTTLS offered but not used', async (t) => {
    const server = await serve(t, (c) => c.play(`
      S: 220 mx.test
      C: EHLO proxy.test
      S: 250-mx.test
      S: 250 STARTTLS
      C: NOOP
      S: 250 Ok
    `));
    const client = await UpstreamClient.connect(clientOptions(server.port));
    await client.command('NOOP');
    await server.script();
  });

  test('an untrusted certificate: UpstreamUnavailableError', async (t) => {
    const server = await serve(t, async (c) => {
      await c.play(BEFORE_TLS);
      await c.startTls(credentials).catch(() => {});
    });
    const options = clientOptions(server.port, { tls: { mode: 'opportunistic', rejectUnauthorized: true } });
    await assert.rejects(UpstreamClient.connect(options), (error: unknown) => {
      assert.ok(error instanceof UpstreamUnavailableError);
      assert.match(error.message, /TLS handshake with upstream failed: self-signed certificate/);
      return true;
    });
  });

  test('rejectUnauthorized false accepts any certificate', async (t) => {
    const server = await serve(t, async (c) => {
      await c.play(BEFORE_TLS);
      await c.startTls(credentials);
      await c.play(AFTER_TLS);
    });
    const client = await UpstreamClient.connect(clientOptions(server.port, { tls: { mode: 'required', rejectUnauthorized: false } }));
    assert.equal(client.secure, true);
    await client.command('NOOP');
  });

  test('a plaintext reply smuggled after the 220: UpstreamProtocolError', async (t) => {
    const server = await serve(t, async (c) => {
      await c.play(`
        S: 220 mx.test
        C: EHLO proxy.test
        S: 250-mx.test
        S: 250 STARTTLS
        C: STARTTLS
      `);
      c.sendRaw('220 2.0.0 Ready to start TLS\r\n250-injected\r\n');
      await c.readUntilClose();
    });
    await assert.rejects(UpstreamClient.connect(clientOptions(server.port, { tls: trusting('required') })), (error: unknown) => {
      assert.ok(error instanceof UpstreamProtocolError);
      assert.match(error.message, /data after its STARTTLS reply/);
      return true;
    });
    await server.script();
  });

  test('EHLO refused after TLS: UpstreamRefusedError', async (t) => {
    const server = await serve(t, async (c) => {
      await c.play(BEFORE_TLS);
      await c.startTls(credentials);
      await c.play(`
        C: EHLO proxy.test
        S: 554 5.7.1 Not you
        C: HELO proxy.test
        S: 554 5.7.1 Still not you
      `);
    });
    await assert.rejects(UpstreamClient.connect(clientOptions(server.port, { tls: trusting('required') })), refused(554, 'Still not you'));
  });
});
