import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type tls from 'node:tls';
import {
  UpstreamMissingExtensionError,
  UpstreamProtocolError,
  UpstreamUnavailableError,
} from '../../../src/errors.js';
import { UpstreamClient } from '../../../src/upstream/client.js';
import { clientOptions, GREETING, makeCertificate, refusedWith, serve } from './fake-server.js';

describe('STARTTLS', { timeout: 30_000 }, () => {
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
    await assert.rejects(UpstreamClient.connect(clientOptions(server.port, { tls: trusting('required') })), refusedWith(454, 'TLS not available due to local problem'));
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
    await assert.rejects(UpstreamClient.connect(clientOptions(server.port, { tls: trusting('required') })), refusedWith(554, 'Still not you'));
  });
});
