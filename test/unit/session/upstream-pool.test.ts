import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UpstreamPool } from '../../../src/session/upstream-pool.js';
import type { UpstreamClient } from '../../../src/upstream/client.js';

class FakeClient {
  closed = false;
  quits = 0;
  async quit(): Promise<void> {
    this.quits++;
    this.closed = true;
  }
}

function pool(size: number, idleTimeout = 10_000) {
  const made: FakeClient[] = [];
  const connect = async () => {
    const client = new FakeClient();
    made.push(client);
    return client as unknown as UpstreamClient;
  };
  return { pool: new UpstreamPool(connect, size, idleTimeout), made };
}

const options = {} as Parameters<UpstreamPool['acquire']>[0];

describe('UpstreamPool', () => {
  test('a session given back fit for reuse serves the next client', async () => {
    const { pool: upstreams, made } = pool(2);
    const first = await upstreams.acquire(options);
    await upstreams.release(first.client, true);
    const second = await upstreams.acquire(options);
    assert.equal(second.client, first.client);
    assert.equal(second.reused, true);
    assert.equal(made.length, 1);
  });

  test('a session not fit for reuse, or closed meanwhile, is ended and never handed out', async () => {
    const { pool: upstreams, made } = pool(2);
    const refused = await upstreams.acquire(options);
    await upstreams.release(refused.client, false);
    assert.equal(made[0]!.quits, 1);
    const dying = await upstreams.acquire(options);
    await upstreams.release(dying.client, true);
    made[1]!.closed = true;
    const next = await upstreams.acquire(options);
    assert.equal(next.reused, false);
    assert.equal(made.length, 3);
  });

  test('no more than `size` sessions wait; size 0 keeps none', async () => {
    const { pool: upstreams, made } = pool(1);
    const a = await upstreams.acquire(options);
    const b = await upstreams.acquire(options);
    await upstreams.release(a.client, true);
    await upstreams.release(b.client, true);
    assert.deepEqual(made.map((client) => client.quits), [0, 1]);
    const { pool: none, made: unpooled } = pool(0);
    await none.release((await none.acquire(options)).client, true);
    assert.equal(unpooled[0]!.quits, 1);
  });

  test('an idle session is ended after idleTimeout, and close() ends the rest', async () => {
    const { pool: upstreams, made } = pool(4, 50);
    await upstreams.release((await upstreams.acquire(options)).client, true);
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(made[0]!.quits, 1);
    const fresh = await upstreams.acquire(options);
    assert.equal(fresh.reused, false);
    await upstreams.release(fresh.client, true);
    await upstreams.close();
    assert.equal(made[1]!.quits, 1);
    await upstreams.release((await upstreams.acquire(options)).client, true);
    assert.equal(made[2]!.quits, 1, 'after close() nothing is kept');
  });
});
