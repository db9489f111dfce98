import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { SmtpTestClient, type WireReply } from '../helpers/smtp-client.js';
import { freePort, startSink, type Sink } from '../helpers/sink.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';

const MESSAGE = 'Subject: fault test\r\n\r\nbody\r\n';

interface Outcome {
  mail: WireReply;
  rcpt?: WireReply;
  data?: WireReply;
  final?: WireReply;
}

/** Runs one transaction and stops at the first negative reply, like a real client. */
async function transaction(port: number): Promise<Outcome> {
  const client = await SmtpTestClient.afterEhlo(port);
  try {
    const mail = await client.command('MAIL FROM:<sender@client.example.net>');
    if (mail.code !== 250) return { mail };
    const rcpt = await client.command('RCPT TO:<someone@example.test>');
    if (rcpt.code !== 250) return { mail, rcpt };
    const data = await client.command('DATA');
    if (data.code !== 354) return { mail, rcpt, data };
    client.write(`${MESSAGE}.\r\n`);
    return { mail, rcpt, data, final: await client.read() };
  } finally {
    client.close();
  }
}

function lastReply(outcome: Outcome): WireReply {
  return outcome.final ?? outcome.data ?? outcome.rcpt ?? outcome.mail;
}

/** The invariant: a transaction that fails upstream ends in a 4xx with an enhanced code, never a 250. */
function assertTempfail(outcome: Outcome): void {
  const last = lastReply(outcome);
  assert.match(last.last, /^4\d\d 4\.\d+\.\d+ /, `expected a 4xx with an enhanced code, got ${last.last}`);
  assert.notEqual(outcome.final?.code, 250);
}

describe('upstream faults: the client gets 4xx, never 250, and the next client is served', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const stop of cleanup.reverse()) await stop();
  });

  async function proxyTo(port: number, upstream: Record<string, unknown> = {}): Promise<TestProxy> {
    const proxy = await startTestProxy({ upstream: { port, xclient: false, ...upstream } });
    cleanup.push(() => proxy.stop(500));
    return proxy;
  }

  async function sink(flags: string[] = []): Promise<Sink> {
    const started = await startSink(flags);
    cleanup.push(() => started.stop());
    return started;
  }

  test('upstream down: MAIL gets 451 4.4.1', async () => {
    const proxy = await proxyTo(await freePort(), { connectTimeout: '2s' });
    const outcome = await transaction(proxy.port);
    assert.equal(outcome.mail.last, '451 4.4.1 Mail service temporarily unavailable, please try again later');
  });

  test('upstream banner refuses (554): MAIL gets 451 4.3.2', async () => {
    const refusing = net.createServer((socket) => socket.resume().end('554 5.3.2 No service here\r\n'));
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => refusing.close(resolve)));
    const proxy = await proxyTo((refusing.address() as net.AddressInfo).port);
    assert.equal((await transaction(proxy.port)).mail.last, '451 4.3.2 Mail service not accepting messages, please try again later');
  });

  test('upstream never answers: MAIL times out with 451 4.4.2', async () => {
    // Reads (so it sees the proxy hang up) but never says a word.
    const silent = net.createServer((socket) => socket.resume());
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => { silent.close(resolve); }));
    const proxy = await proxyTo((silent.address() as net.AddressInfo).port, { commandTimeout: '1s', connectTimeout: '1s' });
    const outcome = await transaction(proxy.port);
    assert.match(outcome.mail.last, /^451 4\.4\.[12] /);
  });

  const drops: [string, string][] = [
    ['after RCPT', 'RCPT'],
    ['after DATA', 'DATA'],
    ['after the final dot, without a reply', '.'],
  ];
  for (const [when, command] of drops) {
    test(`upstream closes ${when}: 451, never 250`, async () => {
      const faulty = await sink(['-q', command]);
      const proxy = await proxyTo(faulty.port);
      const outcome = await transaction(proxy.port);
      assertTempfail(outcome);
      assert.match(lastReply(outcome).last, /^451 4\.4\.2 /);
    });
  }

  for (const command of ['MAIL', 'RCPT', 'DATA', '.']) {
    test(`upstream answers 4xx to ${command}: relayed as it is`, async () => {
      const faulty = await sink(['-r', command]);
      const proxy = await proxyTo(faulty.port);
      const outcome = await transaction(proxy.port);
      assertTempfail(outcome);
      // smtp-sink's own soft reject text, not ours.
      assert.match(lastReply(outcome).last, /^450 4\.3\.0 Error: command failed$/);
    });
  }

  test('upstream answers 421 to MAIL: relayed, and the client is disconnected', async () => {
    const faulty = await sink(['-Q', 'MAIL']);
    const proxy = await proxyTo(faulty.port);
    const outcome = await transaction(proxy.port);
    assert.match(outcome.mail.last, /^421 4\.\d\.\d /);
  });

  test('upstream killed while the message is on its way: 4xx, and the next client is served', async () => {
    const doomed = await sink();
    const proxy = await startTestProxy(
      { upstream: { port: doomed.port, xclient: false, commandTimeout: '3s', dataTimeout: '3s' } },
      {
        scanStage: {
          // The scan runs between RCPT and upstream DATA: freeze the sink, then kill it.
          run: async () => {
            doomed.process.kill('SIGSTOP');
            setTimeout(() => doomed.process.kill('SIGKILL'), 200);
            return { action: 'pass', headers: { remove: [], add: [] } };
          },
        },
      },
    );
    cleanup.push(() => proxy.stop(500));
    assertTempfail(await transaction(proxy.port));
    // The proxy itself is fine: with a new upstream, mail flows again.
    const healthy = await sink();
    const next = await proxyTo(healthy.port);
    assert.equal((await transaction(next.port)).final?.code, 250);
    assert.equal((await transaction(proxy.port)).mail.code, 451);
  });

  test('after upstream faults the same proxy serves the next client normally', async () => {
    const healthy = await sink();
    const proxy = await proxyTo(healthy.port);
    const flaky = await sink(['-q', '.']);
    const faulty = await proxyTo(flaky.port);
    assertTempfail(await transaction(faulty.port));
    assert.equal((await transaction(proxy.port)).final?.last.startsWith('250 '), true);
  });
});
