import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { UpstreamClosedError, UpstreamRefusedError, UpstreamTimeoutError } from '../../../src/errors.js';
import { UpstreamKeepAlive, type NoopTarget } from '../../../src/session/upstream-keepalive.js';
import { replies } from '../../../src/smtp/replies.js';
import type { SmtpReply } from '../../../src/smtp/reply.js';

const OK: SmtpReply = { code: 250, enhanced: '2.0.0', text: 'Ok' };
const settings = { interval: 1000, commandTimeout: 5000 };

/** Stands in for UpstreamClient: records each command and answers with what `answer` gives. */
class FakeClient implements NoopTarget {
  readonly calls: [line: string, timeoutMs: number | undefined][] = [];
  constructor(private readonly answer: () => Promise<SmtpReply> = async () => OK) {}
  command(line: string, timeoutMs?: number): Promise<SmtpReply> {
    this.calls.push([line, timeoutMs]);
    return this.answer();
  }
}

/** Time is mocked; setImmediate is not, so this lets a fake reply reach the keepalive. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

async function tick(t: TestContext, ms: number): Promise<void> {
  t.mock.timers.tick(ms);
  await settle();
}

describe('UpstreamKeepAlive', () => {
  test('a NOOP each interval, with the command timeout; none after stop', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const client = new FakeClient();
    const keepAlive = new UpstreamKeepAlive(() => client, settings);
    await tick(t, 1000);
    assert.deepEqual(client.calls, [['NOOP', 5000]]);
    await tick(t, 1000);
    assert.equal(client.calls.length, 2);
    await keepAlive.stop();
    await tick(t, 10_000);
    assert.equal(client.calls.length, 2);
    keepAlive.throwIfFailed();
  });

  test('the next NOOP waits for the reply to the last: a slow upstream gets no pile-up', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let answer: (reply: SmtpReply) => void = () => undefined;
    const client = new FakeClient(() => new Promise((resolve) => (answer = resolve)));
    const keepAlive = new UpstreamKeepAlive(() => client, settings);
    await tick(t, 1000);
    await tick(t, 4000);
    assert.equal(client.calls.length, 1);
    answer(OK);
    await settle();
    await tick(t, 1000);
    assert.equal(client.calls.length, 2);
    answer(OK);
    await keepAlive.stop();
  });

  test('stop waits for the NOOP in flight, so its outcome is known before DATA', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let answer: (reply: SmtpReply) => void = () => undefined;
    const client = new FakeClient(() => new Promise((resolve) => (answer = resolve)));
    const keepAlive = new UpstreamKeepAlive(() => client, settings);
    await tick(t, 1000);
    let stopped = false;
    const stopping = keepAlive.stop().then(() => (stopped = true));
    await settle();
    assert.equal(stopped, false);
    answer({ code: 421, enhanced: '4.4.2', text: 'mx.example.org Error: timeout exceeded' });
    await stopping;
    assert.throws(() => keepAlive.throwIfFailed(), UpstreamRefusedError);
  });

  test('a refused NOOP ends the keepalive; the message then fails with a 4xx, whatever the upstream said', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const refusal: SmtpReply = { code: 502, enhanced: '5.5.2', text: 'Error: command not recognized' };
    const client = new FakeClient(async () => refusal);
    const keepAlive = new UpstreamKeepAlive(() => client, settings);
    await tick(t, 1000);
    await tick(t, 5000);
    assert.equal(client.calls.length, 1);
    await keepAlive.stop();
    assert.throws(
      () => keepAlive.throwIfFailed(),
      (error) => error instanceof UpstreamRefusedError && error.reply === replies.upstreamRefused && error.upstreamReply === refusal,
    );
  });

  test('a NOOP that fails (timeout, connection lost) ends the keepalive and its error is the message\'s', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const timeout = new UpstreamTimeoutError('no reply to NOOP');
    const client = new FakeClient(() => Promise.reject(timeout));
    const keepAlive = new UpstreamKeepAlive(() => client, settings);
    await tick(t, 1000);
    await tick(t, 5000);
    assert.equal(client.calls.length, 1);
    await keepAlive.stop();
    assert.throws(() => keepAlive.throwIfFailed(), (error) => error === timeout);
  });

  test('a session already lost: no NOOP, and the loss is the message\'s error', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const lost = new UpstreamClosedError('upstream session lost mid-transaction');
    const keepAlive = new UpstreamKeepAlive(() => {
      throw lost;
    }, settings);
    await tick(t, 1000);
    await keepAlive.stop();
    assert.throws(() => keepAlive.throwIfFailed(), (error) => error === lost);
  });

  test('interval 0: no NOOP at all', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const client = new FakeClient();
    const keepAlive = new UpstreamKeepAlive(() => client, { interval: 0, commandTimeout: 5000 });
    await tick(t, 600_000);
    await keepAlive.stop();
    assert.deepEqual(client.calls, []);
  });
});
