import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { startProxyProcess, writeProxyConfig, type ProxyProcess } from '../helpers/proxy-process.js';
import { nothingDelivered, services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';

const SENDER = 'sender@client.example.net';

/** The attachments scanner banning `banned`, and clamd: a real engine whose connections a reload replaces. */
const config = (banned: string[], extra: Record<string, unknown> = {}) => ({
  upstream: { port: services.postfixPort },
  limits: { greetDelay: 0 },
  shutdown: { timeout: '5s' },
  scanners: [
    { type: 'attachments', banned },
    { type: 'clamav', host: '127.0.0.1', port: services.clamdPort },
  ],
  ...extra,
});

function withExe(tag: string): string {
  return [
    `Subject: ${tag}`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain',
    '',
    'the tool you asked for',
    '--b1',
    'Content-Type: application/octet-stream; name="tool.exe"',
    'Content-Disposition: attachment; filename="tool.exe"',
    'Content-Transfer-Encoding: base64',
    '',
    'TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAA=',
    '--b1--',
    '',
  ].join('\r\n');
}

/** How many delivered messages name each tag, from one pass over the mailbox. */
async function deliveries(user: string, tags: readonly string[]): Promise<Map<string, number>> {
  const counts = new Map(tags.map((tag) => [tag, 0]));
  for (const sub of ['new', 'cur']) {
    const dir = path.join(services.maildir, 'example.test', user, sub);
    for (const file of await readdir(dir).catch(() => [] as string[])) {
      const text = await readFile(path.join(dir, file), 'latin1').catch(() => '');
      const tag = /\+(t[0-9a-f]{12})@example\.test/.exec(text)?.[1];
      if (tag && counts.has(tag)) counts.set(tag, counts.get(tag)! + 1);
    }
  }
  return counts;
}

const running: ProxyProcess[] = [];
after(async () => {
  await Promise.all(running.map((proxy) => proxy.stop()));
});

async function start(initial: Record<string, unknown>): Promise<ProxyProcess> {
  const proxy = await startProxyProcess(initial);
  running.push(proxy);
  return proxy;
}

/** Rewrites the file, sends SIGHUP and waits for the `count`th log line with `msg` (from the start). */
async function reload(proxy: ProxyProcess, next: Record<string, unknown>, msg: string, count: number): Promise<Record<string, unknown>[]> {
  await writeProxyConfig(proxy.configFile, proxy.spoolDir, next);
  proxy.child.kill('SIGHUP');
  return waitForLogs(proxy, msg, count);
}

async function waitForLogs(proxy: ProxyProcess, msg: string, count: number): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const lines = proxy.logs.filter((line) => line.msg === msg);
    if (lines.length >= count) return lines;
    if (Date.now() > deadline) throw new Error(`no ${count}x "${msg}" in the log: ${JSON.stringify(proxy.logs.slice(-10))}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function sendExe(port: number): Promise<{ code: number; tag: string }> {
  const { address, tag } = taggedAddress();
  const client = await SmtpTestClient.afterEhlo(port);
  const result = await client.send(SENDER, [address], withExe(tag));
  await client.quit();
  return { code: result.final?.code ?? result.data?.code ?? 0, tag };
}

describe('reload on SIGHUP (the CLI in front of the real Postfix, clamd)', () => {
  test('a valid change takes effect for new messages and is logged with the keys that changed', async () => {
    const proxy = await start(config(['zip']));
    const before = await sendExe(proxy.port);
    assert.equal(before.code, 250);
    assert.equal((await waitForDelivery('alice', before.tag)).length, 1);

    const [reloaded] = await reload(proxy, config(['exe']), 'config reloaded', 1);
    assert.equal(reloaded!.level, 30);
    assert.deepEqual(reloaded!.changed, ['scanners']);

    const afterReload = await sendExe(proxy.port);
    assert.equal(afterReload.code, 554);
    assert.ok(await nothingDelivered('alice', afterReload.tag));
  });

  test('an invalid file is logged naming the key, and the proxy goes on with the config it has', async () => {
    const proxy = await start(config(['zip']));
    const broken = config(['exe'], { limits: { greetDelay: 0, maxRecipientz: 5 } });
    const [failure] = await reload(proxy, broken, 'config reload failed; still running on the previous config', 1);
    assert.equal(failure!.level, 50);
    assert.match(String(failure!.error), /limits\.maxRecipientz: unknown key/);
    assert.equal(proxy.logs.filter((line) => line.msg === 'config reloaded').length, 0);
    // Still the old config: the .exe passes and mail flows.
    const sent = await sendExe(proxy.port);
    assert.equal(sent.code, 250);
    assert.equal((await waitForDelivery('alice', sent.tag)).length, 1);
  });

  test('a key that needs a restart (listen.port) is logged as such and ignored; the rest of the file applies', async () => {
    const proxy = await start(config(['zip']));
    const [notice] = await reload(proxy, config(['exe'], { listen: { port: 1 } }), 'config: listen.port changed, takes effect at restart', 1);
    assert.equal(notice!.key, 'listen.port');
    assert.equal(notice!.level, 40);
    const [reloaded] = await waitForLogs(proxy, 'config reloaded', 1);
    assert.deepEqual(reloaded!.changed, ['scanners']);
    // Still on the port it started on, with the new scanners.
    assert.equal((await sendExe(proxy.port)).code, 554);
  });

  test('under load: three reloads mid-run fail no transaction, every message is delivered exactly once', async () => {
    const variants = [
      config(['zip']),
      config(['js'], { upstream: { port: services.postfixPort, poolSize: 4 }, limits: { greetDelay: 0, maxRecipients: 50 } }),
      config(['zip'], { log: { level: 'debug' } }),
      config(['scr'], { upstream: { port: services.postfixPort, poolSize: 2 } }),
    ];
    const proxy = await start(variants[0]!);
    const total = 60;
    const tags: string[] = [];
    const failures: string[] = [];
    let done = 0;
    let reloads = 0;
    const reloadsDone: Promise<unknown>[] = [];
    const afterEach = () => {
      done++;
      // Count-based, not timed: the reloads land while the four clients are mid-run.
      if (done % 15 === 0 && reloads < 3) {
        reloads++;
        reloadsDone.push(reload(proxy, variants[reloads]!, 'config reloaded', reloads));
      }
    };
    const sendOn = async (client: SmtpTestClient) => {
      const { address, tag } = taggedAddress();
      tags.push(tag);
      const result = await client.send(SENDER, [address], `Subject: ${tag}\r\n\r\nmessage under reload\r\n`).catch((error: Error) => error);
      if (result instanceof Error) failures.push(`${tag}: ${result.message}`);
      else if (result.final?.code !== 250) failures.push(`${tag}: ${result.final?.last ?? result.data?.last ?? result.rcpts.at(-1)?.last ?? result.mail.last}`);
      afterEach();
    };
    // Four clients: two keep their connection for all their messages, two connect anew for each.
    const worker = async (index: number) => {
      const kept = index < 2 ? await SmtpTestClient.afterEhlo(proxy.port) : undefined;
      for (let i = 0; i < total / 4; i++) {
        const client = kept ?? (await SmtpTestClient.afterEhlo(proxy.port));
        await sendOn(client);
        if (!kept) await client.quit();
      }
      await kept?.quit();
    };
    await Promise.all([0, 1, 2, 3].map(worker));
    await Promise.all(reloadsDone);
    assert.deepEqual(failures, []);
    assert.equal(reloads, 3);
    assert.equal(tags.length, total);
    // Waited for as a whole: the mailbox holds every test run's mail, read once per look.
    await waitForDelivery('alice', tags.at(-1)!);
    const deadline = Date.now() + 20_000;
    let counts = await deliveries('alice', tags);
    while ([...counts.values()].some((count) => count === 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      counts = await deliveries('alice', tags);
    }
    // Exactly once: nothing arrives twice later either.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    counts = await deliveries('alice', tags);
    assert.deepEqual([...counts].filter(([, count]) => count !== 1), []);
    assert.equal(proxy.logs.filter((line) => line.msg === 'config reload failed; still running on the previous config').length, 0);
  });

  test('with two workers: the primary validates, both workers reload in place, none restarts', async () => {
    const proxy = await start(config(['zip'], { workers: 2 }));
    const listening = await waitForLogs(proxy, 'smtp-scan-proxy listening', 2);
    const workerPids = new Set(listening.map((line) => line.pid));
    assert.equal(workerPids.size, 2);

    // An invalid file: logged once, by the primary and by no worker.
    await reload(proxy, config(['exe'], { workers: 2, scanners: 'none' }), 'config reload failed; still running on the previous config', 1);
    const reloaded = await reload(proxy, config(['exe'], { workers: 2 }), 'config reloaded', 2);
    assert.deepEqual(new Set(reloaded.map((line) => line.pid)), workerPids);
    const [primary] = await waitForLogs(proxy, 'config valid; reloading workers', 1);
    assert.equal(primary!.pid, proxy.pid);
    assert.equal(proxy.logs.filter((line) => line.msg === 'config reload failed; still running on the previous config').length, 1);

    // Each connection is taken by one worker or the other: all see the new ban.
    const codes = await Promise.all(Array.from({ length: 6 }, () => sendExe(proxy.port).then((sent) => sent.code)));
    assert.deepEqual(codes, [554, 554, 554, 554, 554, 554]);
    assert.equal(proxy.logs.filter((line) => line.msg === 'smtp-scan-proxy listening').length, 2);
    assert.equal(proxy.logs.filter((line) => line.msg === 'worker died; starting a new one').length, 0);
  });
});
