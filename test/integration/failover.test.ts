import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { CaptureSink } from '../helpers/capture-sink.js';
import { capturedLogger } from '../helpers/captured-logger.js';
import { EICAR } from '../helpers/eicar.js';
import { PrivateClamd } from '../helpers/private-clamd.js';
import { startTestProxy } from '../helpers/proxy.js';
import { headerOf, services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient, type WireReply } from '../helpers/smtp-client.js';

// Ports of this test's own daemons, started and stopped by the test itself (none of scripts/services.sh uses them).
const PREFERRED_PORT = 10035;
const BACKUP_PORT = 10036;
const CLAMD_SINK_PORT = 10037;
const REFUSING_PORT = 10038;
const SECOND_CLAMD_PORT = 13311;

interface Sent {
  readonly token: string;
  /** The last reply the client saw: the final one after the dot, or the refusal before it. */
  readonly reply: WireReply | Error;
}

/** One message on a connection of its own from a loopback address of its own, as many MTAs send. */
async function sendOne(port: number, index: number, body = ''): Promise<Sent> {
  const token = `tok${randomBytes(8).toString('hex')}`;
  const from = `127.0.0.${2 + (index % 50)}`;
  try {
    const client = await SmtpTestClient.afterEhlo(port, `client${index}.example.net`, from);
    try {
      const outcome = await client.send('sender@client.example.net', ['alice@example.test'], `Subject: ${token}\r\n\r\n${body}${token}\r\n`);
      const refusal = [outcome.mail, ...outcome.rcpts, outcome.data].find((reply) => reply && reply.code >= 400);
      return { token, reply: refusal ?? outcome.final! };
    } finally {
      await client.quit();
    }
  } catch (error) {
    return { token, reply: error as Error };
  }
}

/**
 * `total` messages from `senders` clients at once; `at(n)` runs as message n starts. Returns
 * them all, with the longest any one client waited.
 */
async function run(
  port: number,
  total: number,
  senders: number,
  at: (n: number) => void,
  { body, paceMs = 0 }: { body?: (n: number) => string; paceMs?: number } = {},
): Promise<{ sent: Sent[]; longestMs: number }> {
  const sent: Sent[] = [];
  let next = 0;
  let longestMs = 0;
  await Promise.all(Array.from({ length: senders }, async () => {
    while (next < total) {
      const n = next++;
      at(n);
      const started = performance.now();
      sent.push(await sendOne(port, n, body?.(n)));
      longestMs = Math.max(longestMs, performance.now() - started);
      if (paceMs) await new Promise((resolve) => setTimeout(resolve, paceMs));
    }
  }));
  return { sent, longestMs };
}

const code = (sent: Sent) => (sent.reply instanceof Error ? 0 : sent.reply.code);
const describeReply = (sent: Sent) => (sent.reply instanceof Error ? `error: ${sent.reply.message}` : sent.reply.last);

describe('failover (issue 12)', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const stop of cleanup.reverse()) await stop();
  });

  test('the preferred upstream killed mid-run, then started again: each 250 in exactly one mailbox, none twice, the rest 4xx; traffic returns to it', async (t) => {
    const preferred = await CaptureSink.start(PREFERRED_PORT);
    cleanup.push(() => preferred.remove());
    const backup = await CaptureSink.start(BACKUP_PORT);
    cleanup.push(() => backup.remove());
    const proxy = await startTestProxy({
      upstream: {
        servers: [
          { host: '127.0.0.1', port: BACKUP_PORT, priority: 20 },
          { host: '127.0.0.1', port: PREFERRED_PORT, priority: 10 },
        ],
        // smtp-sink offers XCLIENT without ADDR.
        xclient: false,
        probeInterval: '500ms',
        connectTimeout: '2s',
        commandTimeout: '10s',
      },
    });
    cleanup.push(() => proxy.stop(1000));

    const restarted: Promise<void>[] = [];
    const { sent, longestMs } = await run(proxy.port, 150, 6, (n) => {
      if (n === 40) restarted.push(preferred.kill());
      if (n === 100) restarted.push(preferred.resume());
    }, { paceMs: 10 });
    await Promise.all(restarted);
    t.diagnostic(`longest wait of one client: ${Math.round(longestMs)} ms; 4xx: ${sent.filter((s) => code(s) !== 250).length} of ${sent.length}`);

    for (const message of sent) {
      assert.ok(code(message) === 250 || (code(message) >= 400 && code(message) < 500), `at worst a 4xx: ${describeReply(message)}`);
    }
    const tokens = sent.map((message) => message.token);
    const [inPreferred, inBackup] = await Promise.all([preferred.count(tokens), backup.count(tokens)]);
    for (const message of sent) {
      const copies = inPreferred.get(message.token)! + inBackup.get(message.token)!;
      if (code(message) === 250) assert.equal(copies, 1, `a message told 250 is in exactly one mailbox (${message.token}: ${copies})`);
      // Cut off with the dot on its way, a 4xx message may have reached the killed sink: still never twice.
      else assert.ok(copies <= 1, `never twice (${message.token}: ${copies})`);
    }
    const accepted = (counts: Map<string, number>) => sent.filter((message) => code(message) === 250 && counts.get(message.token) === 1).length;
    assert.ok(accepted(inBackup) > 0, 'the backup took the mail while the preferred server was down');
    assert.ok(accepted(inPreferred) > 0);
    assert.ok(sent.filter((message) => code(message) === 250).length >= 130, 'only sessions cut by the kill saw a 4xx');

    // The probe (every 500 ms) finds the preferred server again; pooled sessions to the backup are let go.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const { sent: later } = await run(proxy.port, 12, 3, () => undefined);
    const laterTokens = later.map((message) => message.token);
    const back = await preferred.count(laterTokens);
    for (const message of later) {
      assert.equal(code(message), 250, describeReply(message));
      assert.equal(back.get(message.token), 1, 'traffic returned to the preferred server');
    }
  });

  test('the preferred upstream refusing: the test Postfix takes the mail, with the client passed by XCLIENT', async () => {
    const proxy = await startTestProxy({
      upstream: {
        servers: [
          // Nothing listens here: every connection is refused.
          { host: '127.0.0.1', port: REFUSING_PORT, priority: 10 },
          { host: '127.0.0.1', port: services.postfixPort, priority: 20 },
        ],
      },
    });
    cleanup.push(() => proxy.stop(1000));
    for (const from of ['127.0.0.2', '127.0.0.3']) {
      const { address, tag } = taggedAddress();
      const client = await SmtpTestClient.afterEhlo(proxy.port, `host-${from.replaceAll('.', '-')}.example.net`, from);
      const result = await client.send('sender@client.example.net', [address], `Subject: ${tag}\r\n\r\nHello.\r\n`);
      await client.quit();
      assert.match(result.final?.last ?? result.mail.last, /^250 /);
      const [delivered] = await waitForDelivery('alice', tag);
      assert.ok(delivered, 'delivered by the test Postfix');
      assert.match(headerOf(delivered, 'Received') ?? '', new RegExp(`^from host-${from.replaceAll('.', '-')}\\.example\\.net \\(unknown \\[${from.replaceAll('.', '\\.')}\\]\\)`));
    }
  });

  test('one of two clamd SIGSTOPped mid-run, then resumed: no 451 while the other answers, viruses still found', async (t) => {
    const second = await PrivateClamd.start(SECOND_CLAMD_PORT);
    cleanup.push(() => second.stop());
    const sink = await CaptureSink.start(CLAMD_SINK_PORT);
    cleanup.push(() => sink.remove());
    const { logger, lines } = capturedLogger();
    const proxy = await startTestProxy(
      {
        upstream: { port: CLAMD_SINK_PORT, xclient: false },
        limits: { scanDeadline: '30s' },
        scanners: [{
          type: 'clamav',
          timeout: '2s',
          servers: [{ host: '127.0.0.1', port: services.clamdPort }, { host: '127.0.0.1', port: SECOND_CLAMD_PORT }],
        }],
      },
      { logger },
    );
    cleanup.push(() => proxy.stop(1000));

    const virus = (n: number) => n % 5 === 0;
    // Stopped for longer than a scan's timeout while the senders go on.
    const { sent, longestMs } = await run(proxy.port, 200, 4, (n) => {
      if (n !== 30) return;
      second.pause();
      setTimeout(() => second.resume(), 3000);
    }, { body: (n) => (virus(n) ? `${EICAR}\r\n` : ''), paceMs: 40 });
    t.diagnostic(`longest wait of one client: ${Math.round(longestMs)} ms`);

    for (const message of sent) assert.ok([250, 554].includes(code(message)), `250 or the virus's 554, never a 4xx: ${describeReply(message)}`);
    const rejected = sent.filter((message) => code(message) === 554);
    assert.equal(rejected.length, 40, 'every EICAR message was scanned and refused');
    const endpoint = `127.0.0.1:${SECOND_CLAMD_PORT}`;
    assert.ok(lines.some((line) => String(line.msg).startsWith(`scanner endpoint ${endpoint} failed; scan retried on another`)), 'the stopped clamd had scans, which went to the other');
    const deadline = Date.now() + 10_000;
    while (!lines.some((line) => line.msg === `scanner endpoint ${endpoint} answers again`) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.ok(lines.some((line) => line.msg === `scanner endpoint ${endpoint} answers again`), 'resumed, it passed a ping');
  });
});
