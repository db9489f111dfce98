import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import pino from 'pino';
import { clamavScanner, type ClamavOptions } from '../../../../scanners/clamav/index.js';
import { fakeServer, memoryMessage, readInstream, type Instream } from './fakes.js';
import { scanSession } from '../../../helpers/scan-session.js';

const context = { name: 'clamav', logger: pino({ enabled: false }) };
const tcp = (port: number, extra: Partial<ClamavOptions> = {}) =>
  clamavScanner.create(clamavScanner.options.parse({ port, ...extra }) as ClamavOptions, context);
const within = (ms = 5000) => AbortSignal.timeout(ms);
const socketPath = () => join(tmpdir(), `ssp-fake-clamd-${process.pid}-${Math.random().toString(36).slice(2)}.sock`);

/** A fake clamd that decodes the upload, hands it to `seen`, and answers `reply`. */
function answering(reply: string, seen?: (upload: Instream) => void) {
  return fakeServer((socket) =>
    readInstream(socket, (upload) => {
      seen?.(upload);
      socket.end(reply);
    }),
  );
}

describe('clamav adapter against a fake clamd', () => {
  test('frames every chunk with its big-endian length and ends with a zero-length chunk', async () => {
    const body = randomBytes(200_000);
    let upload: Instream | undefined;
    const server = await answering('stream: OK\0', (u) => (upload = u));
    try {
      const verdict = await tcp(server.port, { chunkSize: 16_384 }).scan(memoryMessage(body, 50_000), within(), scanSession());
      assert.deepEqual(verdict, { kind: 'clean' });
      assert.ok(upload);
      assert.equal(upload.command, 'zINSTREAM');
      assert.equal(upload.terminated, true);
      assert.deepEqual(upload.frames, Array.from({ length: 4 }, () => [16_384, 16_384, 16_384, 848]).flat());
      assert.ok(upload.data.equals(body));
    } finally {
      await server.close();
    }
  });

  test('an empty message sends only the terminator and gets a clean verdict', async () => {
    let upload: Instream | undefined;
    const server = await answering('stream: OK\0', (u) => (upload = u));
    try {
      assert.deepEqual(await tcp(server.port).scan(memoryMessage(''), within(), scanSession()), { kind: 'clean' });
      assert.deepEqual(upload, { command: 'zINSTREAM', frames: [], data: Buffer.alloc(0), terminated: true });
    } finally {
      await server.close();
    }
  });

  test('FOUND is infected with the signature name', async () => {
    const server = await answering('stream: Eicar-Test-Signature.UNOFFICIAL FOUND\0');
    try {
      const verdict = await tcp(server.port).scan(memoryMessage('x'), within(), scanSession());
      assert.deepEqual(verdict, { kind: 'infected', signature: 'Eicar-Test-Signature.UNOFFICIAL' });
    } finally {
      await server.close();
    }
  });

  test('regression: clamd answering "size limit exceeded" and closing mid-upload is too-large, not a lost reply', async () => {
    // Like clamd: answer, then close with the rest of the upload unread (the peer sees EPIPE/ECONNRESET).
    const server = await fakeServer((socket) =>
      readInstream(socket, () => socket.end('INSTREAM size limit exceeded. ERROR\0'), 256 * 1024),
    );
    try {
      const message = memoryMessage(Buffer.alloc(4 * 1024 * 1024, 'a'));
      for (let run = 0; run < 20; run++) {
        const verdict = await tcp(server.port).scan(message, within(), scanSession());
        assert.equal(verdict.kind === 'error' && verdict.error, 'too-large', JSON.stringify(verdict));
      }
    } finally {
      await server.close();
    }
  });

  test('a connection cut without any reply is retried once', async () => {
    const server = await fakeServer((socket, index) =>
      index === 0
        ? readInstream(socket, () => socket.resetAndDestroy(), 64 * 1024)
        : readInstream(socket, () => socket.end('stream: OK\0')),
    );
    try {
      const verdict = await tcp(server.port).scan(memoryMessage(Buffer.alloc(1024 * 1024, 'a')), within(), scanSession());
      assert.deepEqual(verdict, { kind: 'clean' });
      assert.equal(server.sockets.length, 2);
    } finally {
      await server.close();
    }
  });

  test('a connection cut twice is a protocol error', async () => {
    const server = await fakeServer((socket) => readInstream(socket, () => socket.resetAndDestroy(), 64 * 1024));
    try {
      const verdict = await tcp(server.port).scan(memoryMessage(Buffer.alloc(1024 * 1024, 'a')), within(), scanSession());
      assert.equal(verdict.kind === 'error' && verdict.error, 'protocol', JSON.stringify(verdict));
      assert.equal(server.sockets.length, 2);
    } finally {
      await server.close();
    }
  });

  for (const [what, reply] of [
    ['garbage', 'HELLO\0'],
    ['a reply without its NUL', 'stream: OK'],
    ['an unknown-command reply', 'UNKNOWN COMMAND\0'],
    ['an endless reply', 'x'.repeat(20_000)],
    ['no reply at all', ''],
  ] as const) {
    test(`${what} is a protocol error`, async () => {
      const server = await answering(reply);
      try {
        const verdict = await tcp(server.port).scan(memoryMessage('hello'), within(), scanSession());
        assert.equal(verdict.kind === 'error' && verdict.error, 'protocol', JSON.stringify(verdict));
      } finally {
        await server.close();
      }
    });
  }

  test('nothing listening on the port is unavailable', async () => {
    const server = await fakeServer(() => {});
    const { port } = server;
    await server.close();
    const verdict = await tcp(port).scan(memoryMessage('hello'), within(), scanSession());
    assert.equal(verdict.kind === 'error' && verdict.error, 'unavailable', JSON.stringify(verdict));
  });

  test('a missing unix socket is unavailable', async () => {
    const scanner = clamavScanner.create(clamavScanner.options.parse({ socket: socketPath() }) as ClamavOptions, context);
    const verdict = await scanner.scan(memoryMessage('hello'), within(), scanSession());
    assert.equal(verdict.kind === 'error' && verdict.error, 'unavailable', JSON.stringify(verdict));
  });

  test('scans over a unix socket', async () => {
    const path = socketPath();
    const server = await fakeServer((socket) => readInstream(socket, () => socket.end('stream: OK\0')), path);
    try {
      const scanner = clamavScanner.create(clamavScanner.options.parse({ socket: path }) as ClamavOptions, context);
      assert.deepEqual(await scanner.scan(memoryMessage('hello'), within(), scanSession()), { kind: 'clean' });
    } finally {
      await server.close();
    }
  });

  test('abort against a clamd that never answers settles at once and closes the socket', async () => {
    const server = await fakeServer((socket) => readInstream(socket, () => {}));
    try {
      const controller = new AbortController();
      const scanning = tcp(server.port).scan(memoryMessage('hello'), controller.signal, scanSession());
      while (server.sockets.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const closed = once(server.sockets[0]!, 'close');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = performance.now();
      controller.abort();
      const verdict = await scanning;
      assert.ok(performance.now() - started < 100, 'settled within 100 ms');
      assert.equal(verdict.kind === 'error' && verdict.error, 'timeout', JSON.stringify(verdict));
      await closed;
    } finally {
      await server.close();
    }
  });

  test('abort mid-upload stops reading the message', async () => {
    const server = await fakeServer((socket) => socket.pause());
    try {
      let sourceClosed = false;
      const message = memoryMessage(Buffer.alloc(16 * 1024 * 1024, 'a'));
      const tracked = {
        size: message.size,
        createReadStream: () => message.createReadStream().once('close', () => (sourceClosed = true)),
      };
      const verdict = await tcp(server.port).scan(tracked, AbortSignal.timeout(100), scanSession());
      assert.equal(verdict.kind === 'error' && verdict.error, 'timeout', JSON.stringify(verdict));
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(sourceClosed, true);
    } finally {
      await server.close();
    }
  });

  test('an already aborted signal makes no connection', async () => {
    const server = await answering('stream: OK\0');
    try {
      const verdict = await tcp(server.port).scan(memoryMessage('hello'), AbortSignal.abort(), scanSession());
      assert.equal(verdict.kind === 'error' && verdict.error, 'timeout');
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(server.sockets.length, 0);
    } finally {
      await server.close();
    }
  });

  for (const transport of ['tcp', 'unix'] as const) {
    test(`backpressure over ${transport}: a 16 MB message waits while clamd stops reading`, async () => {
      const size = 16 * 1024 * 1024;
      let pulled = 0;
      let pulledDuringStall = 0;
      const path = socketPath();
      const server = await fakeServer((socket) => {
        // Read the first bytes, then stop reading until the client has stopped pulling.
        socket.once('data', () => {
          socket.pause();
          let last = -1;
          let still = 0;
          const watch = setInterval(() => {
            still = pulled === last ? still + 1 : 0;
            last = pulled;
            if (still < 5) return;
            clearInterval(watch);
            pulledDuringStall = pulled;
            socket.resume();
          }, 20);
        });
        readInstream(socket, (upload) => socket.end(upload.data.length === size ? 'stream: OK\0' : 'bad size ERROR\0'));
      }, transport === 'unix' ? path : undefined);
      const message = {
        size,
        createReadStream: () =>
          Readable.from(
            (function* () {
              for (let at = 0; at < size; at += 64 * 1024) {
                pulled += 64 * 1024;
                yield Buffer.alloc(64 * 1024, at % 251);
              }
            })(),
            { highWaterMark: 1 },
          ),
      };
      try {
        const options = transport === 'unix' ? { socket: path } : { port: server.port };
        const scanner = clamavScanner.create(clamavScanner.options.parse(options) as ClamavOptions, context);
        assert.deepEqual(await scanner.scan(message, within(30_000), scanSession()), { kind: 'clean' });
        // What was pulled went into kernel socket buffers (~200 KB for unix, a few MB for
        // loopback TCP); a client that ignored backpressure would have pulled all 16 MB.
        const bound = transport === 'unix' ? 1024 * 1024 : size / 2;
        assert.ok(pulledDuringStall < bound, `pulled ${pulledDuringStall} bytes while clamd was not reading`);
      } finally {
        await server.close();
      }
    });
  }

  test('ping sends zPING and expects PONG; version returns the VERSION reply', async () => {
    const commands: string[] = [];
    const server = await fakeServer((socket) =>
      socket.once('data', (data: Buffer) => {
        commands.push(data.toString());
        socket.end(data.toString() === 'zPING\0' ? 'PONG\0' : 'ClamAV 1.4.6/27422/Tue Oct  8 08:35:55 2024\0');
      }),
    );
    try {
      const scanner = tcp(server.port);
      await scanner.ping?.(within());
      assert.equal(await scanner.version?.(within()), 'ClamAV 1.4.6/27422/Tue Oct  8 08:35:55 2024');
      assert.deepEqual(commands, ['zPING\0', 'zVERSION\0']);
    } finally {
      await server.close();
    }
  });

  test('ping rejects a wrong answer and an absent clamd', async () => {
    const wrong = await fakeServer((socket) => socket.end('PANG\0'));
    await assert.rejects(tcp(wrong.port).ping!(within()), /PANG/);
    await wrong.close();
    await assert.rejects(tcp(wrong.port).ping!(within()), /cannot connect/);
  });
});
