/**
 * What the upstream session pool saves in the "many senders" regime (a new client connection
 * per message) in front of the real test Postfix with XCLIENT: pool 16 against pool 0 (the
 * baseline, same run), with clients from the proxy's own address (Postfix keeps offering
 * XCLIENT after it, so sessions are reused with XCLIENT + EHLO each) and from many addresses
 * (it does not, so each client needs a fresh session).
 *
 *   scripts/with-services.sh node --import tsx bench/pool-reuse.ts [--messages 300] [--concurrency 10] [--src DIR]
 *
 * --src points at another checkout's src/ to measure older code the same way.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { SmtpTestClient } from '../test/helpers/smtp-client.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '10' },
    src: { type: 'string', default: path.resolve(import.meta.dirname, '../src') },
  },
});
const messages = Number(values.messages);
const concurrency = Number(values.concurrency);
const { startProxy } = (await import(path.join(values.src!, 'app.ts'))) as typeof import('../src/app.js');
const { parseConfig } = (await import(path.join(values.src!, 'config/load.ts'))) as typeof import('../src/config/load.js');
const postfixPort = Number(process.env.SSP_POSTFIX_PORT ?? 10025);

async function run(poolSize: number, sources: (index: number) => string): Promise<number> {
  const config = parseConfig(
    {
      listen: { host: '127.0.0.1', port: 0, hostname: 'proxy.example.test', reverseLookup: false },
      upstream: { port: postfixPort, poolSize },
      limits: { greetDelay: 0, maxClientsPerIp: 0 },
      workers: 1,
    },
    new Map(),
  );
  const proxy = await startProxy(config, { logger: pino({ level: 'silent' }) });
  const body = `Subject: pool bench\r\n\r\n${'x'.repeat(70)}\r\n`.repeat(1);
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let index = next++; index < messages; index = next++) {
      const client = await SmtpTestClient.afterEhlo(proxy.address.port, 'bench.example.net', sources(index));
      const result = await client.send('bench@client.example.net', ['carol+poolbench@example.test'], body);
      if (result.final?.code !== 250) throw new Error(`not delivered: ${result.final?.last ?? result.mail.last}`);
      await client.quit();
    }
  }));
  const rate = messages / ((performance.now() - started) / 1000);
  await proxy.stop(1000);
  return rate;
}

const own = () => '127.0.0.1';
const many = (index: number) => `127.0.${1 + (index >> 8) % 200}.${2 + (index % 250)}`;
console.log(`${messages} messages, ${concurrency} clients at once, a new connection per message, Postfix with XCLIENT for 127.0.0.1 only`);
console.log('| clients from | pool 0 (baseline) msg/s | pool 16 msg/s | ratio |');
console.log('|---|--:|--:|--:|');
for (const [name, sources] of [['127.0.0.1 (XCLIENT stays offered)', own], ['many addresses', many]] as const) {
  // Baseline before and after, so a warming Postfix (new smtpd processes) favours neither.
  const before = await run(0, sources);
  const pooled = await run(16, sources);
  const after = await run(0, sources);
  const base = (before + after) / 2;
  console.log(`| ${name} | ${base.toFixed(0)} (${before.toFixed(0)}, ${after.toFixed(0)}) | ${pooled.toFixed(0)} | ${(pooled / base).toFixed(2)}× |`);
}
