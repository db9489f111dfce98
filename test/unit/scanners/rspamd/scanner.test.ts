import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import pino from 'pino';
import { rspamdScanner, type RspamdOptions } from '../../../../scanners/rspamd/index.js';
import { memoryMessage } from '../../../conformance/engines.js';
import { scanSession } from '../../../helpers/scan-session.js';

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly raw: string[];
  readonly body: Buffer;
}

/** A fake Rspamd: records each request, answers `status` and `body`. */
async function fakeRspamd(status: number, body: string) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', raw: req.rawHeaders, body: Buffer.concat(chunks) });
      res.writeHead(status, { Server: 'rspamd/3.4', 'Content-Type': 'application/json' }).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, seen, close: () => new Promise((resolve) => server.close(resolve)) };
}

const scanner = (port: number) =>
  rspamdScanner.create(rspamdScanner.options.parse({ port }) as RspamdOptions, { name: 'rspamd', logger: pino({ enabled: false }) });
const ANSWER = JSON.stringify({ score: 6.5, required_score: 15, action: 'add header', symbols: { MISSING_MID: { score: 2.5 } } });

/** Header lines as sent, in order: Rcpt must be one line per recipient. */
const lines = (raw: readonly string[]) => Array.from({ length: raw.length / 2 }, (_, i) => `${raw[2 * i]}: ${raw[2 * i + 1]}`);

describe('rspamd adapter against a fake Rspamd', () => {
  test('POST /checkv2 with the session as headers and the message as the body; the answer as a verdict', async () => {
    const fake = await fakeRspamd(200, ANSWER);
    try {
      const body = 'Subject: hi\r\n\r\nhello\r\n';
      const session = scanSession({ rcptTo: ['bob@example.test', 'carol@example.test'], user: 'alice' });
      const verdict = await scanner(fake.port).scan(memoryMessage(body), AbortSignal.timeout(5000), session);
      assert.deepEqual(verdict, { kind: 'scored', score: 6.5, threshold: 15, rules: ['MISSING_MID'], action: 'tag' });
      const [request] = fake.seen;
      assert.equal(`${request?.method} ${request?.url}`, 'POST /checkv2');
      const sent = lines(request!.raw);
      for (const line of ['IP: 192.0.2.10', 'Helo: client.example.test', 'Hostname: client.example.test', 'From: alice@sender.example',
        'Rcpt: bob@example.test', 'Rcpt: carol@example.test', 'User: alice', 'Queue-Id: test-session-1', `Content-Length: ${body.length}`,
        'Connection: keep-alive']) {
        assert.ok(sent.includes(line), `${line} not in ${JSON.stringify(sent)}`);
      }
      assert.equal(request!.body.toString(), body);
    } finally {
      await fake.close();
    }
  });

  test('an HTTP error with Rspamd\'s own text is a protocol error', async () => {
    const fake = await fakeRspamd(500, '{"error":"invalid command","error_domain":"protocol-error"}');
    try {
      const verdict = await scanner(fake.port).scan(memoryMessage('x'), AbortSignal.timeout(5000), scanSession());
      assert.deepEqual(verdict, { kind: 'error', error: 'protocol', detail: 'rspamd answered 500: invalid command' });
    } finally {
      await fake.close();
    }
  });

  test('a message stream shorter than its size is a protocol error, not a wait for bytes that never come', async () => {
    const fake = await fakeRspamd(200, ANSWER);
    try {
      const message = { size: 100, createReadStream: () => Readable.from([Buffer.alloc(50, 'a')]) };
      const verdict = await scanner(fake.port).scan(message, AbortSignal.timeout(5000), scanSession());
      assert.ok(verdict.kind === 'error' && verdict.error === 'protocol' && /gave 50 bytes, its size is 100/.test(verdict.detail), JSON.stringify(verdict));
    } finally {
      await fake.close();
    }
  });

  test('ping expects pong; version comes from the Server header', async () => {
    const fake = await fakeRspamd(200, 'pong\r\n');
    try {
      await scanner(fake.port).ping!(AbortSignal.timeout(5000));
      assert.equal(await scanner(fake.port).version!(AbortSignal.timeout(5000)), 'Rspamd 3.4');
      assert.deepEqual(fake.seen.map((r) => `${r.method} ${r.url}`), ['GET /ping', 'GET /ping']);
    } finally {
      await fake.close();
    }
    const wrong = await fakeRspamd(404, 'Not found');
    try {
      await assert.rejects(scanner(wrong.port).ping!(AbortSignal.timeout(5000)), /answered \/ping with 404/);
    } finally {
      await wrong.close();
    }
  });
});
