import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import {
  InternalError,
  UpstreamClosedError,
  UpstreamProtocolError,
  UpstreamTimeoutError,
} from '../../../src/errors.js';
import { UpstreamClient } from '../../../src/upstream/client.js';
import { clientOptions, GREETING, serve, type FakeConnection } from './fake-server.js';

const WIRE_GREETING = 'EHLO proxy.test\r\n';

describe('commands', { timeout: 30_000 }, () => {
  test('a command resolves with its reply as a value', async (t) => {
    const server = await serve(t, (c) => c.play(`${GREETING}
      C: RCPT TO:<nobody@example.org>
      S: 550-5.1.1 <nobody@example.org>: Recipient address rejected:
      S: 550 5.1.1 User unknown in virtual mailbox table
      C: RSET
      S: 250 2.0.0 Ok
    `));
    const client = await UpstreamClient.connect(clientOptions(server.port));
    assert.deepEqual(await client.command('RCPT TO:<nobody@example.org>'), {
      code: 550,
      enhanced: '5.1.1',
      text: '<nobody@example.org>: Recipient address rejected: User unknown in virtual mailbox table',
    });
    assert.deepEqual(await client.rset(), { code: 250, enhanced: '2.0.0', text: 'Ok' });
    await server.script();
  });

  test('a multi-line reply trickling in byte by byte', async (t) => {
    const server = await serve(t, async (c) => {
      await c.play(GREETING);
      await c.expect('NOOP');
      for (const byte of '250-first line\r\n250-second\n250 third\r\n') {
        c.sendRaw(byte);
        await sleep(1);
      }
    });
    const client = await UpstreamClient.connect(clientOptions(server.port));
    assert.deepEqual(await client.command('NOOP'), { code: 250, enhanced: undefined, text: 'first line second third' });
  });

  test('CR or LF in a command: InternalError and nothing is sent', async (t) => {
    const server = await serve(t, (c) => c.play(`${GREETING}
      C: NOOP
      S: 250 Ok
    `));
    const client = await UpstreamClient.connect(clientOptions(server.port));
    for (const line of ['MAIL FROM:<a@b>\r\nRCPT TO:<c@d>', 'MAIL FROM:<a@b>\nRSET', 'MAIL FROM:<a@b>\rRSET', 'NOOP\r\n']) {
      await assert.rejects(client.command(line), InternalError);
    }
    await client.command('NOOP');
    await server.script();
    assert.equal(server.connections[0]?.received.toString(), `${WIRE_GREETING}NOOP\r\n`);
    assert.equal(client.closed, false);
  });

  test('verbs with their own method are refused by command()', async (t) => {
    const server = await serve(t, (c) => c.play(GREETING));
    const client = await UpstreamClient.connect(clientOptions(server.port));
    for (const line of ['DATA', 'quit', ' STARTTLS', 'EHLO x', 'HELO x', 'XCLIENT ADDR=1.2.3.4', 'BDAT 10 LAST']) {
      await assert.rejects(client.command(line), InternalError, line);
    }
  });

  test('lockstep: a second command waits for the first reply', async (t) => {
    const server = await serve(t, async (c) => {
      await c.play(`${GREETING}
        C: MAIL FROM:<a@example.org>
      `);
      await sleep(100);
      assert.equal(c.received.toString(), `${WIRE_GREETING}MAIL FROM:<a@example.org>\r\n`, 'nothing before the reply');
      await c.play(`
        S: 250 2.1.0 Ok
        C: RCPT TO:<b@example.org>
        S: 250 2.1.5 Ok
      `);
    });
    const client = await UpstreamClient.connect(clientOptions(server.port));
    const [mail, rcpt] = await Promise.all([client.command('MAIL FROM:<a@example.org>'), client.command('RCPT TO:<b@example.org>')]);
    assert.equal(mail.enhanced, '2.1.0');
    assert.equal(rcpt.enhanced, '2.1.5');
    await server.script();
  });
});

describe('failures', { timeout: 30_000 }, () => {
  const afterGreeting = async (t: Parameters<typeof serve>[0], then: (c: FakeConnection) => Promise<void>, commandTimeout = 2000) => {
    const server = await serve(t, async (c) => {
      await c.play(GREETING);
      await then(c);
    });
    const client = await UpstreamClient.connect(clientOptions(server.port, { commandTimeout }));
    return { server, client };
  };

  test('a reply over the size cap: UpstreamProtocolError, connection closed', async (t) => {
    const { server, client } = await afterGreeting(t, async (c) => {
      await c.expect('NOOP');
      c.sendRaw('250-x\r\n'.repeat(200));
      await c.readUntilClose();
    });
    await assert.rejects(client.command('NOOP'), UpstreamProtocolError);
    assert.equal(client.closed, true);
    await server.script();
  });

  test('a malformed reply: UpstreamProtocolError', async (t) => {
    const { client } = await afterGreeting(t, async (c) => {
      await c.expect('NOOP');
      c.sendRaw('hello there\r\n');
    });
    await assert.rejects(client.command('NOOP'), /malformed reply line from upstream: "hello there"/);
  });

  test('no reply in time: UpstreamTimeoutError, closed, later calls UpstreamClosedError', async (t) => {
    const { server, client } = await afterGreeting(t, async (c) => {
      await c.expect('NOOP');
      await c.readUntilClose();
    }, 150);
    await assert.rejects(client.command('NOOP'), UpstreamTimeoutError);
    assert.equal(client.closed, true);
    await assert.rejects(client.command('NOOP'), UpstreamClosedError);
    await server.script();
  });

  test('a per-command timeout overrides commandTimeout', async (t) => {
    const { client } = await afterGreeting(t, async (c) => {
      await c.expect('VRFY x');
      await c.readUntilClose();
    });
    const started = Date.now();
    await assert.rejects(client.command('VRFY x', 100), UpstreamTimeoutError);
    assert.ok(Date.now() - started < 1000);
  });

  for (const [how, hangUp] of [
    ['closes', (c: FakeConnection) => c.socket.end()],
    ['resets', (c: FakeConnection) => c.socket.resetAndDestroy()],
  ] as const) {
    test(`the upstream ${how} the connection mid-command: UpstreamClosedError`, async (t) => {
      const { client } = await afterGreeting(t, async (c) => {
        await c.expect('MAIL FROM:<a@b>');
        hangUp(c);
      });
      await assert.rejects(client.command('MAIL FROM:<a@b>'), UpstreamClosedError);
      assert.equal(client.closed, true);
      await client.closedPromise;
    });
  }

  test('an unsolicited reply (421 while idle) closes the connection; it never answers the next command', async (t) => {
    const { client } = await afterGreeting(t, async (c) => {
      c.send('421 4.4.2 mx.test Error: timeout exceeded');
      await c.readUntilClose();
    });
    await client.closedPromise;
    assert.equal(client.closed, true);
    await assert.rejects(client.command('MAIL FROM:<a@b>'), (error: unknown) => {
      assert.ok(error instanceof UpstreamClosedError);
      assert.match(error.message, /unexpected reply from upstream: 421/);
      return true;
    });
  });

  test('two replies to one command: the second is unsolicited, connection closed', async (t) => {
    const { client } = await afterGreeting(t, async (c) => {
      await c.expect('NOOP');
      c.send('250 Ok', '250 and something extra');
      await c.readUntilClose();
    });
    assert.equal((await client.command('NOOP')).text, 'Ok');
    await client.closedPromise;
    await assert.rejects(client.command('NOOP'), UpstreamClosedError);
  });

  test('abort while a command is pending: UpstreamClosedError, closed', async (t) => {
    const controller = new AbortController();
    const server = await serve(t, async (c) => {
      await c.play(GREETING);
      await c.expect('MAIL FROM:<a@b>');
      controller.abort();
      await c.readUntilClose();
    });
    const client = await UpstreamClient.connect(clientOptions(server.port, { signal: controller.signal }));
    await assert.rejects(client.command('MAIL FROM:<a@b>'), UpstreamClosedError);
    assert.equal(client.closed, true);
    await server.script();
  });

  test('destroy(): the pending command rejects with UpstreamClosedError', async (t) => {
    const { client } = await afterGreeting(t, (c) => c.readUntilClose().then(() => undefined));
    const pending = client.command('NOOP');
    client.destroy();
    await assert.rejects(pending, UpstreamClosedError);
    await client.closedPromise;
  });
});

describe('quit', { timeout: 30_000 }, () => {
  test('sends QUIT, waits for the 221, closes', async (t) => {
    const server = await serve(t, async (c) => {
      await c.play(`${GREETING}
        C: QUIT
        S: 221 2.0.0 Bye
      `);
      await c.readUntilClose();
    });
    const client = await UpstreamClient.connect(clientOptions(server.port));
    await client.quit();
    assert.equal(client.closed, true);
    await server.script();
  });

  test('gives up waiting for the 221 after a bounded time and never throws', async (t) => {
    const server = await serve(t, async (c) => {
      await c.play(GREETING);
      await c.expect('QUIT');
      await c.readUntilClose();
    });
    const client = await UpstreamClient.connect(clientOptions(server.port, { commandTimeout: 200 }));
    const started = Date.now();
    await client.quit();
    assert.ok(Date.now() - started < 1500);
    assert.equal(client.closed, true);
    await client.quit();
    await server.script();
  });
});
