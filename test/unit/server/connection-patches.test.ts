import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SMTPServer, SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import { registerServer, setSuccessReply } from '../../../src/server/connection-patches.js';
import type { SmtpReply } from '../../../src/smtp/reply.js';
import { startServer, stopServer, Wire } from './wire.js';

/** Generous guards, so only the behaviour under test shows. */
const guards = { idleTimeout: 60_000, dataTimeout: 60_000, maxErrors: 100 };

type Callback = (error?: Error | null) => void;

/** Handlers as the listener uses them: accept with a chosen reply, or refuse with an error. */
function relayTo(replies: Record<string, SmtpReply | Error>) {
  const answer = (address: SMTPServerAddress, session: SMTPServerSession, callback: Callback) => {
    const reply = replies[address.address];
    if (reply instanceof Error) return callback(reply);
    if (reply) setSuccessReply(session, reply);
    callback();
  };
  return { onMailFrom: answer, onRcptTo: answer };
}

const refusal = (code: number, message: string) => Object.assign(new Error(message), { responseCode: code });

const handlers = relayTo({
  'fwd@example.org': { code: 251, enhanced: '2.1.5', text: 'forwarded' },
  'ok@example.org': { code: 250, enhanced: '2.1.0', text: 'Ok' },
  'bare@example.org': { code: 250, text: 'Ok, no enhanced code upstream' },
  'nope@example.org': refusal(550, '5.1.1 nope'),
  'plain@example.org': refusal(550, 'plain refusal'),
});

describe('connection patches', { timeout: 20_000 }, () => {
  const servers: SMTPServer[] = [];
  const wires: Wire[] = [];
  let fast: number;
  let slow: number;
  let stock: number;

  before(async () => {
    const a = await startServer({ ...handlers });
    registerServer(a.server, { ...guards, greetDelay: 0 });
    const b = await startServer({ ...handlers });
    registerServer(b.server, { ...guards, greetDelay: 400 });
    // Created after the patch is installed, but never registered.
    const c = await startServer({ ...handlers });
    servers.push(a.server, b.server, c.server);
    [fast, slow, stock] = [a.port, b.port, c.port];
  });

  after(async () => {
    for (const wire of wires) wire.destroy();
    await Promise.all(servers.map(stopServer));
  });

  const connect = async (port: number) => {
    const wire = await Wire.connect(port);
    wires.push(wire);
    return wire;
  };

  /** Connected, banner read, EHLO done. */
  const ready = async (port: number) => {
    const wire = await connect(port);
    assert.match((await wire.line()).text, /^220 /);
    assert.match(await wire.command('EHLO client.example'), /^250 /);
    return wire;
  };

  describe('greeting delay', () => {
    // smtp-server pauses 100 ms before every banner; ours replaces that pause, not adds to it.
    test('greetDelay 0: the banner comes well before smtp-server’s own 100 ms pause', async () => {
      // Best of three: a loaded machine only ever adds time, and the stock pause can never be
      // under 100 ms, so the fastest banner still tells the two apart.
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const wire = await connect(fast);
        const banner = await wire.line();
        assert.match(banner.text, /^220 \S+ ESMTP/);
        times.push(banner.at);
      }
      assert.ok(Math.min(...times) < 80, `banners after ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
    });

    test('greetDelay 400 ms: nothing before ~350 ms, then one banner', async () => {
      const wire = await connect(slow);
      const banner = await wire.line(3000);
      assert.match(banner.text, /^220 /);
      assert.ok(banner.at >= 350, `banner after ${banner.at.toFixed(0)} ms`);
      // smtp-server's own 100 ms timer also fires; it must not produce a second banner.
      assert.match(await wire.command('NOOP'), /^250 /);
    });

    test('a client that talks before the banner gets 421 and is disconnected, without a banner', async () => {
      const wire = await connect(slow);
      // Past smtp-server's own 100 ms: its timer must not have opened the session early.
      await new Promise((resolve) => setTimeout(resolve, 150));
      wire.send('EHLO early.example');
      const reply = await wire.line();
      assert.match(reply.text, /^421 .*You talk too soon$/);
      assert.ok(reply.at < 350, `421 after ${reply.at.toFixed(0)} ms`);
      assert.equal(await wire.closedWithin(1000), true);
      assert.deepEqual(wire.lines, [], 'nothing after the 421 (no late banner)');
    });

    test('over maxClients: 421 and no banner after it, though our greeting timer still fires', async () => {
      const { server, port } = await startServer({ maxClients: 1 });
      servers.push(server);
      registerServer(server, { ...guards, greetDelay: 0 });
      const first = await connect(port);
      assert.match((await first.line()).text, /^220 /);
      const second = await connect(port);
      assert.match((await second.line()).text, /^421 .*Too many connected clients/);
      assert.equal(await second.closedWithin(1000), true);
      assert.deepEqual(second.lines, []);
    });
  });

  describe('MAIL and RCPT replies', () => {
    test('setSuccessReply: MAIL and RCPT answer with the given reply, not "250 Accepted"', async () => {
      const wire = await ready(fast);
      assert.equal(await wire.command('MAIL FROM:<ok@example.org>'), '250 2.1.0 Ok');
      assert.equal(await wire.command('RCPT TO:<fwd@example.org>'), '251 2.1.5 forwarded');
    });

    test('a reply without an enhanced code is relayed without one', async () => {
      const wire = await ready(fast);
      assert.equal(await wire.command('MAIL FROM:<bare@example.org>'), '250 Ok, no enhanced code upstream');
    });

    test('the reply is used once: the next accepted command without one gets smtp-server’s own', async () => {
      const wire = await ready(fast);
      assert.equal(await wire.command('MAIL FROM:<ok@example.org>'), '250 2.1.0 Ok');
      assert.equal(await wire.command('RCPT TO:<someone@example.org>'), '250 2.1.5 Accepted');
    });

    test('a handler error that starts with an enhanced code is sent as it is, not given a second one', async () => {
      const wire = await ready(fast);
      assert.equal(await wire.command('MAIL FROM:<nope@example.org>'), '550 5.1.1 nope');
      assert.equal(await wire.command('MAIL FROM:<ok@example.org>'), '250 2.1.0 Ok');
      assert.equal(await wire.command('RCPT TO:<nope@example.org>'), '550 5.1.1 nope');
    });

    test('a handler error without an enhanced code still gets one from smtp-server', async () => {
      const wire = await ready(fast);
      assert.match(await wire.command('MAIL FROM:<plain@example.org>'), /^550 5\.\d{1,3}\.\d{1,3} plain refusal$/);
    });

    test("smtp-server's own replies keep their enhanced codes", async () => {
      const wire = await ready(fast);
      assert.equal(await wire.command('RCPT TO:<ok@example.org>'), '503 5.5.1 Error: need MAIL command');
      assert.match(await wire.command('NOOP'), /^250 2\.0\.0 /);
    });

    test('LHLO refused on an SMTP listener carries an enhanced code too (regression, found by fuzzing)', async () => {
      const wire = await ready(fast);
      assert.match(await wire.command('LHLO x.example'), /^500 5\.\d{1,3}\.\d{1,3} /);
    });
  });

  describe('an smtp-server that was not registered', () => {
    test('keeps its own 100 ms pause before the banner', async () => {
      const wire = await connect(stock);
      const banner = await wire.line();
      assert.match(banner.text, /^220 /);
      assert.ok(banner.at >= 90, `banner after ${banner.at.toFixed(0)} ms`);
    });

    test('keeps its own "250 Accepted", even when a handler sets a success reply', async () => {
      const wire = await ready(stock);
      assert.equal(await wire.command('MAIL FROM:<ok@example.org>'), '250 2.1.0 Accepted');
      assert.equal(await wire.command('RCPT TO:<fwd@example.org>'), '250 2.1.5 Accepted');
    });

    test('adds its enhanced code to handler errors, as stock smtp-server does', async () => {
      const wire = await ready(stock);
      assert.match(await wire.command('MAIL FROM:<nope@example.org>'), /^550 5\.\d\.\d 5\.1\.1 nope$/);
    });
  });
});
