import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { RateLimits, rateLimitsSchema } from '../../src/screen/rate-limits.js';
import { formatReply } from '../../src/smtp/reply.js';
import { services } from '../helpers/services.js';
import { freePort } from '../helpers/sink.js';

const root = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

/** A logger whose lines the test reads. */
function capturingLogger() {
  const lines: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

/** A client address no earlier run has counted in the shared Redis. */
const freshAddress = () => `10.${[...randomBytes(3)].join('.')}`;

function redisLimits(url: string, raw: Record<string, unknown>, logger = pino({ level: 'silent' })): RateLimits {
  return RateLimits.create(rateLimitsSchema.parse({ store: 'redis', redis: { url, timeout: '300ms' }, ...raw }), logger, { clustered: false });
}

describe('rate limits shared through the real Redis', () => {
  test('two proxies using one Redis hold one limit between them', async () => {
    // Two spellings of the URL: each gets a connection of its own, as two instances would.
    const first = redisLimits(`redis://127.0.0.1:${services.redisPort}`, { connections: { limit: 3 } });
    const second = redisLimits(`redis://127.0.0.1:${services.redisPort}/0`, { connections: { limit: 3 } });
    const address = freshAddress();
    try {
      const replies = [];
      for (const proxy of [first, second, first, second, first, second]) {
        const reply = await proxy.connection(address);
        replies.push(reply && formatReply(reply));
      }
      const refusal = `421 4.7.0 Error: too many connections from ${address}`;
      assert.deepEqual(replies, [undefined, undefined, undefined, refusal, refusal, refusal]);
      const redis = new Redis(services.redisPort, '127.0.0.1');
      try {
        assert.equal(await redis.get(`ssp-rl:connections:${address}`), '6', 'the count is kept in Redis');
      } finally {
        redis.disconnect();
      }
    } finally {
      await first.close();
      await second.close();
    }
  });
});

describe('rate limits while Redis is slow or down', () => {
  let port: number;
  let dir: string;
  let redis: ChildProcess | undefined;

  /** A Redis of this test's own, so stopping it touches nothing else. */
  async function startRedis(): Promise<void> {
    redis = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir], {
      stdio: 'ignore',
    });
    const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => 100 });
    probe.on('error', () => {});
    try {
      for (let i = 0; i < 100; i++) {
        if (await probe.ping().catch(() => undefined)) return;
        await sleep(100);
      }
      throw new Error(`redis-server did not answer on 127.0.0.1:${port}`);
    } finally {
      probe.disconnect();
    }
  }

  function killRedis(): Promise<void> {
    const child = redis!;
    redis = undefined;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    return gone;
  }

  before(async () => {
    port = await freePort();
    dir = await mkdtemp(path.join(os.tmpdir(), 'ssp-redis-'));
    await startRedis();
  });

  after(async () => {
    if (redis) {
      redis.kill('SIGCONT');
      await killRedis();
    }
    await rm(dir, { recursive: true, force: true });
  });

  test('each instance falls back to its local limits, says so once, and says when Redis is back', async () => {
    const { logger, lines } = capturingLogger();
    const limits = redisLimits(`redis://127.0.0.1:${port}`, { messages: { limit: 3 } }, logger);
    const said = (text: string) => lines.filter((line) => line.msg.includes(text)).length;
    const address = freshAddress();
    try {
      assert.equal(await limits.message(address), undefined);

      // Slow: Redis takes the command and does not answer (stopped, not dead).
      redis!.kill('SIGSTOP');
      assert.equal(await limits.message(address), undefined, 'a Redis that does not answer lets mail through');
      assert.equal(said('Redis is down or slow'), 1);
      redis!.kill('SIGCONT');

      // Down: the shared count is lost, so the local count decides, and it still refuses.
      await killRedis();
      const replies = [];
      for (let i = 0; i < 4; i++) {
        const reply = await limits.message(address);
        replies.push(reply && formatReply(reply));
      }
      assert.deepEqual(replies.slice(0, 2), [undefined, undefined]);
      assert.equal(replies[3], `450 4.7.1 Error: too much mail from ${address}`, 'local limits still hold while Redis is down');
      assert.equal(said('Redis is down or slow'), 1, 'said once, not per call');
      assert.equal(said('Redis is back'), 0);

      await startRedis();
      const other = freshAddress();
      for (let i = 0; i < 100 && said('Redis is back') === 0; i++) {
        await limits.message(other);
        await sleep(100);
      }
      assert.equal(said('Redis is back'), 1);
      assert.equal(said('Redis is down or slow'), 1);
    } finally {
      await limits.close();
    }
  });
});

describe('rate limits of a proxy with workers', () => {
  test('the memory store holds the limit for the whole proxy, not per worker', async () => {
    // Two workers, 5 connections each from one address, limit 5: per-worker counts would allow 10.
    const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(root, 'test/helpers/rate-limit-cluster.ts')], {
      cwd: root,
      env: { ...process.env, LIMIT: '5', ATTEMPTS: '5' },
      timeout: 30_000,
    });
    assert.deepEqual(JSON.parse(stdout), { allowed: 5 });
  });
});
