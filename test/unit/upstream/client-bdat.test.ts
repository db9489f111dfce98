import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test, type TestContext } from 'node:test';
import { InternalError, UpstreamClosedError } from '../../../src/errors.js';
import { UpstreamClient, type UpstreamOptions } from '../../../src/upstream/client.js';
import { clientOptions, serve, type FakeConnection } from './fake-server.js';

const greeting = (chunking: boolean) => `
  S: 220 mx.test ESMTP
  C: EHLO proxy.test
  S: 250-mx.test
  S: 250-PIPELINING
  S: 250-8BITMIME
  S: 250 ${chunking ? 'CHUNKING' : 'SIZE 10240000'}
`;

const TRANSACTION = `
  C: MAIL FROM:<a@example.org>
  S: 250 2.1.0 Ok
  C: RCPT TO:<b@example.org>
  S: 250 2.1.5 Ok
`;

async function session(t: TestContext, script: (c: FakeConnection) => Promise<void>, options: Partial<UpstreamOptions> = {}, chunking = true) {
  const server = await serve(t, async (c) => {
    await c.play(greeting(chunking) + TRANSACTION);
    await script(c);
  });
  const client = await UpstreamClient.connect(clientOptions(server.port, { chunking: true, ...options }));
  await client.command('MAIL FROM:<a@example.org>');
  await client.command('RCPT TO:<b@example.org>');
  return { server, client };
}

const streamOf = (...chunks: string[]) => Readable.from(chunks.map((chunk) => Buffer.from(chunk, 'latin1')));

/** Lines that DATA would have to stuff or treat as line ends; BDAT sends them as they are. */
const CONTENT = 'Subject: dots\r\n\r\n.leading dot\r\n.\r\n..two\r\nend\r\n';

describe('BDAT (CHUNKING)', { timeout: 30_000 }, () => {
  test('offered: one BDAT <size> LAST with the bytes as they are, and the reply to it returned exactly', async (t) => {
    let chunk: Buffer | undefined;
    const { server, client } = await session(t, async (c) => {
      await c.expect(`BDAT ${CONTENT.length} LAST`);
      chunk = await c.readBytes(CONTENT.length);
      c.send('250 2.0.0 Ok: 52 bytes queued as 4XyZ1');
      await c.play('C: NOOP\nS: 250 2.0.0 Ok');
    });
    const reply = client.sendMessage(streamOf(CONTENT.slice(0, 20), CONTENT.slice(20)), CONTENT.length);
    // A keepalive NOOP asked for meanwhile waits for the reply: nothing may come between.
    const noop = client.command('NOOP');
    assert.deepEqual(await reply, { code: 250, enhanced: '2.0.0', text: 'Ok: 52 bytes queued as 4XyZ1' });
    assert.equal((await noop).code, 250);
    await server.script();
    assert.equal(chunk?.toString('latin1'), CONTENT);
    assert.equal(server.connections[0]!.received.includes('DATA'), false);
  });

  test('an empty message is BDAT 0 LAST', async (t) => {
    const { server, client } = await session(t, (c) => c.play('C: BDAT 0 LAST\nS: 250 Ok'));
    assert.equal((await client.sendMessage(streamOf(), 0)).code, 250);
    await server.script();
  });

  test('a message of many pieces arrives whole, the reply after the last byte', async (t) => {
    const piece = `${'z'.repeat(998)}\r\n`.repeat(20);
    const pieces = Array.from({ length: 15 }, () => piece);
    const size = piece.length * pieces.length;
    let chunk: Buffer | undefined;
    const { client } = await session(t, async (c) => {
      await c.expect(`BDAT ${size} LAST`);
      chunk = await c.readBytes(size);
      c.send('250 Ok');
    });
    assert.equal((await client.sendMessage(streamOf(...pieces), size)).code, 250);
    assert.equal(chunk?.toString('latin1'), pieces.join(''));
  });

  test('not offered, or chunking off: DATA with the dot-stuffed message', async (t) => {
    for (const [chunking, offered] of [[true, false], [false, true]] as const) {
      let body: Buffer | undefined;
      const { server, client } = await session(t, async (c) => {
        await c.play('C: DATA\nS: 354 go ahead');
        body = await c.readData();
        c.send('250 Ok');
      }, { chunking }, offered);
      assert.equal((await client.sendMessage(streamOf(CONTENT), CONTENT.length)).code, 250);
      await server.script();
      assert.equal(body?.toString('latin1'), 'Subject: dots\r\n\r\n..leading dot\r\n..\r\n...two\r\nend\r\n.\r\n');
    }
  });

  test('refused after the chunk: the reply is returned and the session stays open', async (t) => {
    const { server, client } = await session(t, async (c) => {
      await c.expect(`BDAT ${CONTENT.length} LAST`);
      await c.readBytes(CONTENT.length);
      c.send('554 5.7.1 Refused at DATA by the test Postfix');
      await c.play('C: RSET\nS: 250 2.0.0 Ok');
    });
    assert.deepEqual(await client.sendMessage(streamOf(CONTENT), CONTENT.length), { code: 554, enhanced: '5.7.1', text: 'Refused at DATA by the test Postfix' });
    assert.equal(client.closed, false);
    assert.equal((await client.rset()).code, 250);
    await server.script();
  });

  for (const [name, chunks, size] of [
    ['longer', ['Subject: x\r\n\r\n', 'one byte too many\r\n'], 25],
    ['shorter', ['Subject: x\r\n\r\n', 'body\r\n'], 40],
  ] as const) {
    test(`a stream ${name} than its size: InternalError, the connection dropped before the chunk is complete`, async (t) => {
      let received: Buffer | undefined;
      const { server, client } = await session(t, async (c) => {
        received = await c.readUntilClose();
      });
      await assert.rejects(client.sendMessage(streamOf(...chunks), size), InternalError);
      assert.equal(client.closed, true);
      await server.script();
      // The upstream may have the command and part of the chunk, never all of it nor more.
      const line = `BDAT ${size} LAST\r\n`;
      const incomplete = (line + chunks.join('')).slice(0, line.length + size - 1);
      assert.ok(incomplete.startsWith(received!.toString('latin1')), JSON.stringify(received!.toString('latin1')));
    });
  }

  test('the message stream fails mid-way: its error, the connection dropped before the size is reached', async (t) => {
    let received: Buffer | undefined;
    const { server, client } = await session(t, async (c) => {
      await c.expect('BDAT 1000000 LAST');
      received = await c.readUntilClose();
    });
    const failing = Readable.from((async function* () {
      for (let i = 0; i < 3; i++) {
        yield Buffer.alloc(64 * 1024, 'a');
        await sleep(10);
      }
      throw new Error('EIO: spool read failed');
    })());
    await assert.rejects(client.sendMessage(failing, 1_000_000), /EIO: spool read failed/);
    assert.equal(client.closed, true);
    await server.script();
    assert.ok(received!.length < 1_000_000);
  });

  test('the upstream hangs up mid-chunk without a reply: UpstreamClosedError, as during DATA', async (t) => {
    const size = 200 * 1024;
    const { client } = await session(t, async (c) => {
      await c.expect(`BDAT ${size} LAST`);
      await c.readBytes(1024);
      c.socket.destroy();
    });
    const slowly = Readable.from((async function* () {
      for (let sent = 0; sent < size; sent += 1024) {
        await sleep(2);
        yield Buffer.alloc(1024, 'c');
      }
    })());
    await assert.rejects(client.sendMessage(slowly, size), UpstreamClosedError);
    assert.equal(client.closed, true);
  });

  test('the upstream refuses mid-chunk and hangs up: its reply is returned', async (t) => {
    const size = 200 * 1024;
    const { client } = await session(t, async (c) => {
      await c.expect(`BDAT ${size} LAST`);
      await c.readBytes(1024);
      c.send('552 5.3.4 Message size exceeds fixed limit');
      c.socket.end();
      await c.readUntilClose();
    });
    const slowly = Readable.from((async function* () {
      for (let sent = 0; sent < size; sent += 1024) {
        await sleep(2);
        yield Buffer.alloc(1024, 'b');
      }
    })());
    assert.deepEqual(await client.sendMessage(slowly, size), { code: 552, enhanced: '5.3.4', text: 'Message size exceeds fixed limit' });
    assert.equal(client.closed, true);
  });
});
