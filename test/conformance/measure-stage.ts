/**
 * Measures the scanning stage end to end (not a test: not matched by *.test.ts):
 *
 *   eval "$(scripts/services.sh env)"
 *   node --import tsx test/conformance/measure-stage.ts [runs=10] [messages=32] [clients=4] [rounds=3]
 *
 * 1. stage time, from the final dot to the reply, of clean / EICAR / GTUBE messages through a
 *    proxy with the real clamd, spamd and the attachments scanner, in front of the private
 *    Postfix (so a clean message's time includes relaying it);
 * 2. messages/s for `messages` clean messages over `clients` concurrent connections, with the
 *    real scanners in parallel, and with clamd then spamd run one after the other in one
 *    scanner (Haraka's order);
 * 3. the same throughput with fake scanners: 5 ms + 50 ms in parallel against one 55 ms
 *    scanner (Haraka's order emulated), and the ratio parallel/sequential.
 */
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { z } from 'zod';
import { clamavScanner, type ClamavOptions } from '../../scanners/clamav/index.js';
import { spamassassinScanner, type SpamassassinOptions } from '../../scanners/spamassassin/index.js';
import type { ScannerFactory } from '../../src/scan/registry.js';
import type { Scanner } from '../../src/scan/scanner.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { dotStuff, SmtpTestClient, type WireReply } from '../helpers/smtp-client.js';
import { fixture } from '../scenarios/scanning-scenarios.js';
import { delayed, fakeScanner } from './fake-scanners.js';

const env = process.env;
if (!env.SSP_POSTFIX_PORT || !env.SSP_CLAMD_PORT || !env.SSP_SPAMD_PORT) {
  console.log('skipped: the private daemons are not in the environment (scripts/services.sh start; eval "$(scripts/services.sh env)")');
  process.exit(0);
}
const postfix = Number(env.SSP_POSTFIX_PORT);
const clamd = { host: '127.0.0.1', port: Number(env.SSP_CLAMD_PORT) };
const spamd = { host: '127.0.0.1', port: Number(env.SSP_SPAMD_PORT) };
const [runs = 10, messages = 32, clients = 4, rounds = 3] = process.argv.slice(2).map(Number);

const RCPT = 'alice+measure@example.test';

async function opened(port: number): Promise<SmtpTestClient> {
  return SmtpTestClient.afterEhlo(port);
}

/** One transaction on an open connection; ms is from the final dot to the reply. */
async function transaction(client: SmtpTestClient, message: Buffer): Promise<{ final: WireReply; ms: number }> {
  for (const [line, code] of [['MAIL FROM:<alice@sender.example>', 250], [`RCPT TO:<${RCPT}>`, 250], ['DATA', 354]] as const) {
    const reply = await client.command(line);
    assert.equal(reply.code, code, `${line}: ${reply.last}`);
  }
  const started = performance.now();
  client.write(Buffer.concat([dotStuff(message), Buffer.from('.\r\n')]));
  const final = await client.read(60_000);
  return { final, ms: performance.now() - started };
}

function stats(values: number[]): { min: number; median: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { min: sorted[0]!, median, max: sorted.at(-1)! };
}

const f1 = (n: number) => n.toFixed(1);

/** `total` messages over `parallel` connections, each sending its share in turn. */
async function throughput(port: number, message: () => Buffer, total: number, parallel: number, expect: number): Promise<{ perSecond: number; stage: ReturnType<typeof stats> }> {
  const connections = await Promise.all(Array.from({ length: parallel }, () => opened(port)));
  // one warm-up message per connection, not counted
  await Promise.all(connections.map((client) => transaction(client, message())));
  const times: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    connections.map(async (client) => {
      while (next < total) {
        next++;
        const { final, ms } = await transaction(client, message());
        assert.equal(final.code, expect, final.last);
        times.push(ms);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(connections.map((client) => client.quit()));
  return { perSecond: total / seconds, stage: stats(times) };
}

/** clamd, then spamd, in one scanner: the order Haraka scans in. */
const sequentialReal: ScannerFactory = {
  type: 'sequential-real',
  category: 'antispam',
  options: z.strictObject({}),
  create(_options, context) {
    const logger = pino({ enabled: false });
    const av: Scanner = clamavScanner.create(clamavScanner.options.parse(clamd) as ClamavOptions, { name: 'clamav', logger });
    const spam: Scanner = spamassassinScanner.create(spamassassinScanner.options.parse(spamd) as SpamassassinOptions, { name: 'spamassassin', logger });
    return {
      name: context.name,
      type: 'sequential-real',
      async scan(message, signal, session) {
        const first = await av.scan(message, signal, session);
        if (first.kind !== 'clean') return first;
        return spam.scan(message, signal, session);
      },
    };
  },
};

async function withProxy<T>(scanners: Record<string, unknown>[], factories: ScannerFactory[], work: (proxy: TestProxy) => Promise<T>): Promise<T> {
  const proxy = await startTestProxy(
    { upstream: { port: postfix }, scanners },
    { factories: new Map(factories.map((factory) => [factory.type, factory])) },
  );
  try {
    return await work(proxy);
  } finally {
    await proxy.stop(2000);
  }
}

const realScanners = [
  { type: 'clamav', ...clamd, concurrency: 8 },
  { type: 'spamassassin', ...spamd, concurrency: 8 },
  { type: 'attachments', concurrency: 8 },
];

console.log(`node ${process.version}; ${runs} runs per sample; throughput: ${messages} messages over ${clients} connections, ${rounds} rounds; upstream Postfix :${postfix}\n`);

await withProxy(realScanners, [], async (proxy) => {
  console.log('1. stage time, final dot to reply (real clamd + spamd + attachments, one connection)');
  const client = await opened(proxy.port);
  await transaction(client, fixture('clean.eml')); // warm-up
  for (const [label, file, code] of [['clean', 'clean.eml', 250], ['EICAR', 'eicar-attachment.eml', 554], ['GTUBE', 'gtube.eml', 550]] as const) {
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const { final, ms } = await transaction(client, fixture(file));
      assert.equal(final.code, code, final.last);
      times.push(ms);
    }
    const { min, median, max } = stats(times);
    console.log(`   ${label.padEnd(6)} ${code}  min ${f1(min)} ms  median ${f1(median)} ms  max ${f1(max)} ms`);
  }
  await client.quit();
});

type Run = Awaited<ReturnType<typeof throughput>>;

/**
 * Runs A and B in turns, `rounds` times each (ABAB...), so that a change in the machine's load
 * hits both alike, and prints each round and the median of the rounds.
 */
async function compare(label: string, a: { name: string; run: () => Promise<Run> }, b: { name: string; run: () => Promise<Run> }): Promise<void> {
  const results: { a: Run; b: Run }[] = [];
  for (let round = 0; round < rounds; round++) {
    const first = await a.run();
    const second = await b.run();
    results.push({ a: first, b: second });
    console.log(
      `   round ${round + 1}: ${a.name} ${f1(first.perSecond)} msg/s (stage median ${f1(first.stage.median)} ms) | ` +
        `${b.name} ${f1(second.perSecond)} msg/s (stage median ${f1(second.stage.median)} ms)`,
    );
  }
  const rate = (pick: (r: { a: Run; b: Run }) => Run) => stats(results.map((r) => pick(r).perSecond)).median;
  const stage = (pick: (r: { a: Run; b: Run }) => Run) => stats(results.map((r) => pick(r).stage.median)).median;
  console.log(
    `   ${label}, medians of ${rounds} rounds: ${a.name} ${f1(rate((r) => r.a))} msg/s, ${b.name} ${f1(rate((r) => r.b))} msg/s; ` +
      `ratio ${a.name}/${b.name}: throughput ${(rate((r) => r.a) / rate((r) => r.b)).toFixed(2)}, ` +
      `stage time ${(stage((r) => r.a) / stage((r) => r.b)).toFixed(2)}`,
  );
}

const clean = () => fixture('clean.eml');

console.log(`\n2. throughput with real scanners (clean.eml); parallel: clamd | spamd | attachments, sequential: clamd then spamd | attachments`);
await compare(
  'real scanners',
  { name: 'parallel', run: () => withProxy(realScanners, [], (proxy) => throughput(proxy.port, clean, messages, clients, 250)) },
  {
    name: 'sequential',
    run: () =>
      withProxy([{ type: 'sequential-real', concurrency: 8 }, { type: 'attachments', concurrency: 8 }], [sequentialReal], (proxy) =>
        throughput(proxy.port, clean, messages, clients, 250),
      ),
  },
);

console.log('\n3. throughput with fake scanners (fixed delays); parallel: 5 ms | 50 ms, sequential: one 55 ms scanner (Haraka\'s order)');
const fast = fakeScanner('fake-5ms', delayed(5), 'antivirus');
const slow = fakeScanner('fake-50ms', delayed(50), 'antispam');
const serial = fakeScanner('fake-55ms', delayed(55), 'antispam');
await compare(
  'fake scanners',
  {
    name: 'parallel',
    run: () => withProxy([{ type: 'fake-5ms', concurrency: 8 }, { type: 'fake-50ms', concurrency: 8 }], [fast, slow], (proxy) => throughput(proxy.port, clean, messages, clients, 250)),
  },
  { name: 'sequential', run: () => withProxy([{ type: 'fake-55ms', concurrency: 8 }], [serial], (proxy) => throughput(proxy.port, clean, messages, clients, 250)) },
);
