import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import pino from 'pino';
import { spamassassinScanner, type SpamassassinOptions } from '../../../../scanners/spamassassin/index.js';
import { fakeServer, memoryMessage, readRequest, type SpamcRequest } from './fakes.js';
import { scanSession } from '../../../helpers/scan-session.js';
import { clientHopLine } from '../../../../scanners/shared/client-hop.js';

const context = { name: 'spamd', logger: pino({ enabled: false }) };
const scannerFor = (options: Partial<SpamassassinOptions>) =>
  spamassassinScanner.create(spamassassinScanner.options.parse(options) as SpamassassinOptions, context);
const tcp = (port: number, extra: Partial<SpamassassinOptions> = {}) => scannerFor({ port, ...extra });
const within = (ms = 5000) => AbortSignal.timeout(ms);
const socketPath = () => join(tmpdir(), `ssp-fake-spamd-${process.pid}-${Math.random().toString(36).slice(2)}.sock`);
const captured = (name: string): Buffer => readFileSync(new URL(`../../../../fixtures/captured/spamd/${name}`, import.meta.url));
const GTUBE_REPLY = captured('symbols-gtube.txt');

/** A fake spamd that reads one request, hands it to `seen`, answers `reply` and closes. */
function answering(reply: Buffer | string, seen?: (request: SpamcRequest) => void) {
  return fakeServer((socket) =>
    readRequest(socket, (request) => {
      seen?.(request);
      socket.end(reply);
    }),
  );
}

const errorKind = (verdict: unknown) => (verdict as { error?: string }).error;
/** What spamd gets before the message: the client's hop, as an MTA would have written it. */
const hop = clientHopLine(scanSession());

describe('spamassassin adapter against a fake spamd', () => {
  test('the message goes after a Received line for the client\'s hop, naming its HELO, PTR name, address, our session id and the one recipient', async () => {
    const receivedAt = new Date(Date.UTC(2026, 10, 30, 5, 44, 18));
    let request: SpamcRequest | undefined;
    const server = await answering(GTUBE_REPLY, (r) => (request = r));
    try {
      await tcp(server.port).scan(memoryMessage('Subject: hi\r\n\r\nhello\r\n'), within(), scanSession({ receivedAt }));
      assert.equal(
        request?.body.toString('latin1'),
        'Received: from client.example.test (client.example.test [192.0.2.10])\r\n' +
          '\tby mx.example.test (smtp-scan-proxy) with ESMTP\r\n' +
          '\tid test-session-1\r\n\tfor <bob@example.test>; Mon, 30 Nov 2026 05:44:18 +0000\r\n' +
          'Subject: hi\r\n\r\nhello\r\n',
      );
    } finally {
      await server.close();
    }
  });

  test('SYMBOLS with Content-length equal to the bytes sent, then a half-close', async () => {
    const body = Buffer.from('Subject: hi\r\n\r\n' + 'line of text\r\n'.repeat(700));
    let request: SpamcRequest | undefined;
    const server = await answering(GTUBE_REPLY, (r) => (request = r));
    try {
      const verdict = await tcp(server.port).scan(memoryMessage(body, 1000), within(), scanSession());
      assert.deepEqual(verdict, { kind: 'scored', score: 1000, threshold: 5, rules: ['GTUBE', 'NO_RECEIVED', 'NO_RELAYS', 'TVD_SPACE_RATIO'] });
      assert.ok(request);
      assert.equal(request.line, 'SYMBOLS SPAMC/1.5');
      assert.deepEqual(request.headers, [`Content-length: ${hop.length + body.length}`]);
      assert.ok(request.body.equals(Buffer.concat([hop, body])));
      assert.equal(request.ended, true);
    } finally {
      await server.close();
    }
  });

  test('the User header when configured', async () => {
    let request: SpamcRequest | undefined;
    const server = await answering(GTUBE_REPLY, (r) => (request = r));
    try {
      await tcp(server.port, { user: 'mailfilter' }).scan(memoryMessage('x'), within(), scanSession());
      assert.deepEqual(request?.headers, [`Content-length: ${hop.length + 1}`, 'User: mailfilter']);
    } finally {
      await server.close();
    }
  });

  test('a message from a file (the scan command: no client) goes as it is, with no Received line', async () => {
    let request: SpamcRequest | undefined;
    const server = await answering(GTUBE_REPLY, (r) => (request = r));
    try {
      await tcp(server.port).scan(memoryMessage('x'), within(), scanSession({ clientAddress: '' }));
      assert.deepEqual(request?.headers, ['Content-length: 1']);
      assert.equal(request?.body.toString(), 'x');
    } finally {
      await server.close();
    }
  });

  test('an empty message sends the client\'s Received line alone', async () => {
    let request: SpamcRequest | undefined;
    const server = await answering(captured('symbols-empty.txt'), (r) => (request = r));
    try {
      const verdict = await tcp(server.port).scan(memoryMessage(''), within(), scanSession());
      assert.equal(verdict.kind, 'scored');
      assert.deepEqual(request?.headers, [`Content-length: ${hop.length}`]);
      assert.ok(request?.body.equals(hop));
    } finally {
      await server.close();
    }
  });

  test('a negative score', async () => {
    const server = await answering('SPAMD/1.1 0 EX_OK\r\nContent-length: 8\r\nSpam: False ; -1.9 / 5.0\r\n\r\nBAYES_00');
    try {
      assert.deepEqual(await tcp(server.port).scan(memoryMessage('x'), within(), scanSession()), {
        kind: 'scored',
        score: -1.9,
        threshold: 5,
        rules: ['BAYES_00'],
      });
    } finally {
      await server.close();
    }
  });

  test('a non-zero spamd status is a protocol error with its text', async () => {
    const server = await answering('SPAMD/1.0 74 Read error\r\n');
    try {
      assert.deepEqual(await tcp(server.port).scan(memoryMessage('x'), within(), scanSession()), {
        kind: 'error',
        error: 'protocol',
        detail: 'spamd EX_IOERR (74): Read error',
      });
    } finally {
      await server.close();
    }
  });

  test('spamd rejecting the request before the whole message is sent keeps its reply', async () => {
    const server = await fakeServer((socket) => socket.once('data', () => socket.end('SPAMD/1.0 76 Bad header line: x\r\n')));
    try {
      const verdict = await tcp(server.port).scan(memoryMessage(Buffer.alloc(4 * 1024 * 1024, 'a')), within(), scanSession());
      assert.deepEqual(verdict, { kind: 'error', error: 'protocol', detail: 'spamd EX_PROTOCOL (76): Bad header line: x' });
    } finally {
      await server.close();
    }
  });

  for (const [what, reply] of [
    ['no reply', ''],
    ['a reply cut in its body', GTUBE_REPLY.subarray(0, GTUBE_REPLY.length - 5)],
    ['garbage', 'HELLO\r\n'],
    ['a reply over 64 KiB', Buffer.alloc(70 * 1024, 'x')],
  ] as const) {
    test(`${what} is a protocol error`, async () => {
      const server = await answering(reply);
      try {
        const verdict = await tcp(server.port).scan(memoryMessage('x'), within(), scanSession());
        assert.equal(errorKind(verdict), 'protocol', JSON.stringify(verdict));
      } finally {
        await server.close();
      }
    });
  }

  for (const [what, size, given] of [
    ['shorter', 100, 50],
    ['longer', 10, 20],
  ] as const) {
    test(`a message stream ${what} than its size is a protocol error, and spamd never gets more than announced`, async () => {
      let request: SpamcRequest | undefined;
      const server = await answering(GTUBE_REPLY, (r) => (request = r));
      try {
        const message = { size, createReadStream: () => Readable.from([Buffer.alloc(given, 'a')]) };
        const verdict = await tcp(server.port).scan(message, within(), scanSession());
        assert.equal(errorKind(verdict), 'protocol', JSON.stringify(verdict));
        while (request === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
        assert.ok(request.body.length <= hop.length + size, `spamd got ${request.body.length} bytes`);
      } finally {
        await server.close();
      }
    });
  }

  test('nothing listening is unavailable', async () => {
    const server = await fakeServer(() => {});
    const { port } = server;
    await server.close();
    assert.equal(errorKind(await tcp(port).scan(memoryMessage('x'), within(), scanSession())), 'unavailable');
  });

  test('a missing unix socket is unavailable; a present one works', async () => {
    const path = socketPath();
    assert.equal(errorKind(await scannerFor({ socket: path }).scan(memoryMessage('x'), within(), scanSession())), 'unavailable');
    const server = await fakeServer((socket) => readRequest(socket, () => socket.end(GTUBE_REPLY)), path);
    try {
      assert.equal((await scannerFor({ socket: path }).scan(memoryMessage('x'), within(), scanSession())).kind, 'scored');
    } finally {
      await server.close();
    }
  });

  test('abort against a spamd that never answers settles at once and closes the socket', async () => {
    const server = await fakeServer((socket) => readRequest(socket, () => {}));
    try {
      const controller = new AbortController();
      const scanning = tcp(server.port).scan(memoryMessage('x'), controller.signal, scanSession());
      while (server.sockets.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const fake = server.sockets[0]!;
      const closed = new Promise((resolve) => fake.once('close', resolve));
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = performance.now();
      controller.abort();
      const verdict = await scanning;
      assert.ok(performance.now() - started < 100, 'settled within 100 ms');
      assert.equal(errorKind(verdict), 'timeout');
      // The client half-closed after its request, so only writes tell the fake it is gone.
      const probe = setInterval(() => fake.write('x'), 10);
      await closed;
      clearInterval(probe);
    } finally {
      await server.close();
    }
  });

  test('backpressure: a 16 MB message waits while spamd stops reading', async () => {
    const size = 16 * 1024 * 1024;
    let pulled = 0;
    let pulledDuringStall = 0;
    const path = socketPath();
    const server = await fakeServer((socket) => {
      socket.once('data', () => {
        socket.pause();
        setTimeout(() => {
          pulledDuringStall = pulled;
          socket.resume();
        }, 200);
      });
      readRequest(socket, () => socket.end(GTUBE_REPLY));
    }, path);
    const message = {
      size,
      createReadStream: () =>
        Readable.from(
          (function* () {
            for (let at = 0; at < size; at += 64 * 1024) {
              pulled += 64 * 1024;
              yield Buffer.alloc(64 * 1024, 'a');
            }
          })(),
          { highWaterMark: 1 },
        ),
    };
    try {
      assert.equal((await scannerFor({ socket: path }).scan(message, within(30_000), scanSession())).kind, 'scored');
      // A unix socket buffers ~200 KB; a client without backpressure would have pulled all 16 MB.
      assert.ok(pulledDuringStall < 1024 * 1024, `pulled ${pulledDuringStall} bytes while spamd was not reading`);
    } finally {
      await server.close();
    }
  });

  test('ping sends PING SPAMC/1.5 and expects PONG', async () => {
    let request: SpamcRequest | undefined;
    const server = await answering(captured('pong.txt'), (r) => (request = r));
    try {
      await tcp(server.port).ping!(within());
      assert.equal(request?.line, 'PING SPAMC/1.5');
      assert.deepEqual(request?.headers, []);
    } finally {
      await server.close();
    }
    const wrong = await answering('SPAMD/1.5 0 EX_OK\r\n');
    try {
      await assert.rejects(tcp(wrong.port).ping!(within()), /answered PING/);
    } finally {
      await wrong.close();
    }
  });

  test('version scans a tiny message with HEADERS and reads X-Spam-Checker-Version', async () => {
    let request: SpamcRequest | undefined;
    const server = await answering(captured('headers-version.txt'), (r) => (request = r));
    try {
      assert.equal(await tcp(server.port).version!(within()), 'SpamAssassin 4.0.1 (2024-03-25)');
      assert.equal(request?.line, 'HEADERS SPAMC/1.5');
      assert.deepEqual(request?.headers, [`Content-length: ${request?.body.length}`]);
    } finally {
      await server.close();
    }
  });
});
