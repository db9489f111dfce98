import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test, type TestContext } from 'node:test';
import { UpstreamClosedError, UpstreamTimeoutError } from '../../../src/errors.js';
import { UpstreamClient, type UpstreamOptions } from '../../../src/upstream/client.js';
import { clientOptions, GREETING, serve, type FakeConnection } from './fake-server.js';

const TRANSACTION = `
  C: MAIL FROM:<a@example.org>
  S: 250 2.1.0 Ok
  C: RCPT TO:<b@example.org>
  S: 250 2.1.5 Ok
  C: DATA
`;

async function session(t: TestContext, script: (c: FakeConnection) => Promise<void>, options: Partial<UpstreamOptions> = {}) {
  const server = await serve(t, async (c) => {
    await c.play(GREETING + TRANSACTION);
    await script(c);
  });
  const client = await UpstreamClient.connect(clientOptions(server.port, options));
  await client.command('MAIL FROM:<a@example.org>');
  await client.command('RCPT TO:<b@example.org>');
  return { server, client };
}

/** A message stream that yields its chunks slowly, so the upstream can act mid-body. */
function slowly(chunks: readonly string[], delayMs: number): Readable {
  return Readable.from((async function* () {
    for (const chunk of chunks) {
      await sleep(delayMs);
      yield Buffer.from(chunk);
    }
  })());
}

/** A message stream that delivers `chunks` and then fails, as a spool read error would. */
function failing(chunks: readonly string[]): Readable {
  return Readable.from((async function* () {
    for (const chunk of chunks) {
      yield Buffer.from(chunk);
      await sleep(10);
    }
    throw new Error('EIO: spool read failed');
  })());
}

describe('DATA', { timeout: 30_000 }, () => {
  test('354, the dot-stuffed message, then the final reply', async (t) => {
    let body: Buffer | undefined;
    const { server, client } = await session(t, async (c) => {
      c.send('354 End data with <CR><LF>.<CR><LF>');
      body = await c.readData();
      c.send('250 2.0.0 Ok: queued as 4XyZ1');
    });
    const message = Readable.from(['Subject: dots\r\n\r\n.leading dot\r\n', '.\r\nbare\nline', '\r', '\n.', '\r\n..two\r\nend'].map((s) => Buffer.from(s)));
    assert.deepEqual(await client.data(message), { code: 250, enhanced: '2.0.0', text: 'Ok: queued as 4XyZ1' });
    assert.equal(body?.toString(), 'Subject: dots\r\n\r\n..leading dot\r\n..\r\nbare\r\nline\r\n..\r\n...two\r\nend\r\n.\r\n');
    await server.script();
  });

  test('an empty message is just the final dot', async (t) => {
    let body: Buffer | undefined;
    const { client } = await session(t, async (c) => {
      c.send('354 go ahead');
      body = await c.readData();
      c.send('250 Ok');
    });
    assert.equal((await client.data(Readable.from([]))).code, 250);
    assert.equal(body?.toString(), '.\r\n');
  });

  test('DATA refused: the reply is returned, no body is sent, the message is destroyed', async (t) => {
    const { server, client } = await session(t, (c) => c.play(`
      S: 554 5.5.1 Error: no valid recipients
      C: RSET
      S: 250 2.0.0 Ok
    `));
    const message = Readable.from([Buffer.from('Subject: x\r\n\r\nbody\r\n')]);
    assert.deepEqual(await client.data(message), { code: 554, enhanced: '5.5.1', text: 'Error: no valid recipients' });
    assert.equal(message.destroyed, true);
    await client.rset();
    await server.script();
    assert.doesNotMatch(server.connections[0]!.received.toString(), /Subject/);
  });

  test('a rejection after the final dot is returned', async (t) => {
    const { client } = await session(t, async (c) => {
      c.send('354 go ahead');
      await c.readData();
      c.send('554 5.7.1 Message rejected by content filter');
    });
    const reply = await client.data(Readable.from([Buffer.from('x\r\n')]));
    assert.deepEqual(reply, { code: 554, enhanced: '5.7.1', text: 'Message rejected by content filter' });
    assert.equal(client.closed, false);
  });

  test('the message stream fails mid-way: rejects with its error, the upstream never sees an end of data', async (t) => {
    let received: Buffer | undefined;
    const { server, client } = await session(t, async (c) => {
      c.send('354 go ahead');
      received = await c.readUntilClose();
    });
    const chunks = ['Subject: partial\r\n\r\n', 'first half\r\n', 'more\r\n', 'last line\r\n'];
    await assert.rejects(client.data(failing(chunks)), /EIO: spool read failed/);
    assert.equal(client.closed, true);
    await server.script();
    assert.match(received!.toString(), /^Subject: partial\r\n\r\nfirst half\r\n/, 'the message was under way');
    assert.ok(chunks.join('').startsWith(received!.toString()), 'and nothing was added to it');
    assert.equal(server.connections[0]!.received.includes('\r\n.\r\n'), false);
  });

  test('the message stream fails before its first byte: the connection is dropped all the same', async (t) => {
    let received: Buffer | undefined;
    const { server, client } = await session(t, async (c) => {
      c.send('354 go ahead');
      received = await c.readUntilClose();
    });
    const broken = new Readable({ read() { this.destroy(new Error('ENOENT')); } });
    await assert.rejects(client.data(broken), /ENOENT/);
    await server.script();
    assert.equal(received?.length, 0);
  });

  test('no final reply within dataTimeout: UpstreamTimeoutError', async (t) => {
    const { client } = await session(t, async (c) => {
      c.send('354 go ahead');
      await c.readData();
      await c.readUntilClose();
    }, { dataTimeout: 200, commandTimeout: 5000 });
    const started = Date.now();
    await assert.rejects(client.data(Readable.from([Buffer.from('x\r\n')])), UpstreamTimeoutError);
    assert.ok(Date.now() - started < 2000);
    assert.equal(client.closed, true);
  });

  test('the upstream refuses mid-body and hangs up: its reply is returned, no final dot is sent', async (t) => {
    const { server, client } = await session(t, async (c) => {
      c.send('354 go ahead');
      await c.readLine();
      c.send('552 5.3.4 Message size exceeds fixed limit');
      c.socket.end();
      await c.readUntilClose();
    });
    const chunks = Array.from({ length: 50 }, (_, i) => `line ${i}\r\n`);
    assert.deepEqual(await client.data(slowly(chunks, 10)), { code: 552, enhanced: '5.3.4', text: 'Message size exceeds fixed limit' });
    assert.equal(client.closed, true);
    await server.script();
    assert.equal(server.connections[0]!.received.includes('\r\n.\r\n'), false);
  });

  test('the upstream hangs up mid-body without a reply: UpstreamClosedError', async (t) => {
    const { client } = await session(t, async (c) => {
      c.send('354 go ahead');
      await c.readLine();
      c.socket.destroy();
    });
    await assert.rejects(client.data(slowly(Array.from({ length: 50 }, () => 'more\r\n'), 10)), UpstreamClosedError);
  });

  test('backpressure: a slow reader gets the whole message, the stream is not read ahead', async (t) => {
    const size = 64 * 1024 * 1024;
    let produced = 0;
    const message = Readable.from((function* () {
      const chunk = Buffer.from(`${'x'.repeat(1022)}\r\n`.repeat(64));
      for (produced = 0; produced < size; produced += chunk.length) yield chunk;
    })());
    let body: Buffer | undefined;
    let producedWhilePaused = 0;
    const { client } = await session(t, async (c) => {
      c.socket.pause();
      c.send('354 go ahead');
      await sleep(300);
      producedWhilePaused = produced;
      c.socket.resume();
      body = await c.readData();
      c.send('250 Ok');
    }, { commandTimeout: 5000 });
    assert.equal((await client.data(message)).code, 250);
    assert.ok(producedWhilePaused < size / 4, `read ${producedWhilePaused} bytes ahead of a paused upstream`);
    assert.equal(body?.length, size + 3);
    assert.equal(body?.subarray(-6).toString(), 'x\r\n.\r\n');
  });

  test('an upstream that stops reading: UpstreamTimeoutError after commandTimeout', async (t) => {
    const message = Readable.from((function* () {
      const chunk = Buffer.alloc(1024 * 1024, 'y');
      for (let i = 0; i < 512; i++) yield chunk;
    })());
    const { client } = await session(t, async (c) => {
      c.socket.pause();
      c.send('354 go ahead');
      await c.readUntilClose();
    }, { commandTimeout: 300 });
    await assert.rejects(client.data(message), (error: unknown) => {
      assert.ok(error instanceof UpstreamTimeoutError);
      assert.match(error.message, /stopped reading/);
      return true;
    });
  });

  test('two messages in a row on one connection', async (t) => {
    const bodies: string[] = [];
    const { server, client } = await session(t, async (c) => {
      c.send('354 go ahead');
      bodies.push((await c.readData()).toString());
      await c.play(`
        S: 250 2.0.0 Ok: queued as A
        C: MAIL FROM:<c@example.org>
        S: 250 Ok
        C: RCPT TO:<d@example.org>
        S: 250 Ok
        C: DATA
        S: 354 go ahead
      `);
      bodies.push((await c.readData()).toString());
      c.send('250 2.0.0 Ok: queued as B');
    });
    assert.equal((await client.data(Readable.from([Buffer.from('one\r\n')]))).text, 'Ok: queued as A');
    await client.command('MAIL FROM:<c@example.org>');
    await client.command('RCPT TO:<d@example.org>');
    assert.equal((await client.data(Readable.from([Buffer.from('two')]))).text, 'Ok: queued as B');
    assert.deepEqual(bodies, ['one\r\n.\r\n', 'two\r\n.\r\n']);
    await server.script();
  });
});
