import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, writeConfig } from '../helpers/cli.js';
import { startProxyProcess, type ProxyProcess } from '../helpers/proxy-process.js';
import { headerOf, services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { until, waitForBackends } from '../helpers/haproxy.js';
import { freePort } from '../helpers/sink.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';

/**
 * Scale-out with real parts (docs/scale-out.md): the HAProxy of scripts/services.sh, with
 * send-proxy-v2 and SMTP health checks, in front of two proxy instances this file starts on
 * its backend ports, in front of the test Postfix. Clients connect from addresses other
 * than 127.0.0.1, which is HAProxy's address as the instances see it.
 */

const instanceNames = ['proxy1.example.test', 'proxy2.example.test'] as const;

function startInstance(index: 0 | 1, extra: Record<string, unknown> = {}): Promise<ProxyProcess> {
  return startProxyProcess({
    ...extra,
    listen: {
      port: services.haproxyBackendPorts[index],
      // The banner names the instance, so a client knows which one served it.
      hostname: instanceNames[index],
      proxyProtocol: { trusted: ['127.0.0.1/32'] },
    },
    upstream: { port: services.postfixPort },
    shutdown: { timeout: '10s' },
  });
}

const mailboxFiles = new Map<string, string>();

/**
 * How many times each tag was delivered to the mailbox. Each file is read once (a Maildir file
 * never changes), so polling for 60 tags does not read the whole mailbox 60 times.
 */
async function deliveries(user: string, tags: string[]): Promise<number[]> {
  const texts: string[] = [];
  for (const sub of ['new', 'cur']) {
    const dir = path.join(services.maildir, 'example.test', user, sub);
    for (const file of await readdir(dir).catch(() => [] as string[])) {
      let text = mailboxFiles.get(file);
      if (text === undefined) {
        text = await readFile(path.join(dir, file), 'latin1').catch(() => '');
        mailboxFiles.set(file, text);
      }
      texts.push(text);
    }
  }
  return tags.map((tag) => texts.filter((text) => text.includes(`+${tag}@example.test`)).length);
}

type Outcome = { kind: 'accepted'; instance: string; at: number } | { kind: 'temporary' | 'closed'; detail: string };

/** One message on a fresh connection through HAProxy; a 5xx anywhere fails the test. */
async function sendOnce(from: string, address: string, tag: string): Promise<Outcome> {
  let client: SmtpTestClient | undefined;
  try {
    client = await SmtpTestClient.connect(services.haproxyPort, from);
    const banner = await client.read(10_000);
    if (banner.code !== 220) return check(banner.last);
    const instance = banner.lines[0]!.split(' ')[0]!;
    const ehlo = await client.command('EHLO client.example.net');
    if (ehlo.code !== 250) return check(ehlo.last);
    const result = await client.send('sender@client.example.net', [address], `Subject: ${tag}\r\n\r\nscale-out ${tag}\r\n`);
    const last = result.final ?? result.data ?? result.rcpts[0] ?? result.mail;
    if (last.code !== 250) return check(last.last);
    return { kind: 'accepted', instance, at: Date.now() };
  } catch (error) {
    return { kind: 'closed', detail: (error as Error).message };
  } finally {
    await client?.quit();
  }
}

function check(reply: string): Outcome {
  assert.match(reply, /^4\d\d /, `only a 4xx may refuse mail while an instance stops: ${reply}`);
  return { kind: 'temporary', detail: reply };
}

describe('scale-out: HAProxy with PROXY v2 in front of two instances', () => {
  const instances: (ProxyProcess | undefined)[] = [];

  before(async () => {
    instances.push(await startInstance(0), await startInstance(1));
    await waitForBackends();
  });

  after(async () => {
    await Promise.all(instances.map((instance) => instance?.stop()));
  });

  test("Postfix's Received header names the original client, not HAProxy or the proxy", async () => {
    const { address, tag } = taggedAddress();
    const client = await SmtpTestClient.afterEhlo(services.haproxyPort, 'client.example.net', '127.0.0.9');
    const result = await client.send('sender@client.example.net', [address], `Subject: ${tag}\r\n\r\nthrough HAProxy\r\n`);
    await client.quit();
    assert.equal(result.final?.code, 250);
    const [delivered] = await waitForDelivery('alice', tag);
    assert.ok(delivered, 'delivered');
    assert.match(headerOf(delivered, 'Received')!, /^from client\.example\.net \(\S+ \[127\.0\.0\.9\]\)/);
  });

  test("an instance's own --check (the image's HEALTHCHECK) passes behind the balancer: it sends a PROXY LOCAL header", async () => {
    const listen = { port: services.haproxyBackendPorts[1], proxyProtocol: { trusted: ['127.0.0.1/32'] } };
    const check = await runCli(['--check', '--config', await writeConfig({ listen, upstream: { port: services.postfixPort } })]);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /^ok {3}listener 127\.0\.0\.1:\d+: 220 proxy2\.example\.test /m);
  });

  test('one instance stopped mid-run: every message is delivered exactly once, clients see at worst a 4xx', async (t) => {
    const clients = 4;
    const perClient = 15;
    const stopAfter = 20;
    const maxTries = 10;
    const messages = Array.from({ length: clients * perClient }, () => taggedAddress());
    const accepted: { tag: string; instance: string; at: number }[] = [];
    const refusals: string[] = [];
    let stopped: Promise<number | string> | undefined;
    let stoppedAt = Infinity;

    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        const from = `127.0.0.${60 + c}`;
        for (const { address, tag } of messages.slice(c * perClient, (c + 1) * perClient)) {
          for (let attempt = 1; ; attempt++) {
            const outcome = await sendOnce(from, address, tag);
            if (outcome.kind === 'accepted') {
              accepted.push({ tag, instance: outcome.instance, at: outcome.at });
              break;
            }
            refusals.push(outcome.detail);
            // An MTA retries later with the same message; so does this client.
            assert.ok(attempt < maxTries, `${tag}: still refused after ${maxTries} tries: ${refusals.join(' | ')}`);
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
          if (accepted.length >= stopAfter && !stopped) {
            stoppedAt = Date.now();
            stopped = instances[0]!.stop('SIGTERM');
          }
        }
      }),
    );

    assert.equal(await stopped, 0, 'the stopped instance drained and exited 0');
    instances[0] = undefined;
    assert.equal(accepted.length, messages.length);
    const served = (instance: string, when: (at: number) => boolean) => accepted.filter((a) => a.instance === instance && when(a.at)).length;
    assert.ok(served(instanceNames[0], (at) => at < stoppedAt) > 0, 'the stopped instance took mail before its stop');
    assert.ok(served(instanceNames[1], (at) => at > stoppedAt) > 0, 'the other one took mail after it');

    const tags = messages.map(({ tag }) => tag);
    await until('every accepted message in the Maildir', async () => (await deliveries('alice', tags)).every((n) => n > 0));
    // Anything delivered twice would have arrived by now (Postfix delivers within a second here).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const counts = await deliveries('alice', tags);
    assert.deepEqual(counts.filter((n) => n !== 1), [], `each of ${messages.length} messages delivered exactly once`);
    t.diagnostic(`${messages.length} sent, ${accepted.length} accepted, ${counts.filter((n) => n === 1).length} delivered once, ` +
      `${counts.filter((n) => n > 1).length} duplicated; ${refusals.length} retried after: ${[...new Set(refusals)].join(' | ') || 'nothing'}`);
  });
});

describe('scale-out: a rate limit held across both instances through one Redis', () => {
  const instances: ProxyProcess[] = [];
  const limit = 4;
  const screening = {
    // HAProxy's checks (PROXY LOCAL, from 127.0.0.1) reach each instance every second.
    access: { allow: ['127.0.0.1/32'] },
    rateLimits: { store: 'redis', redis: { url: `redis://127.0.0.1:${services.redisPort}` }, connections: { limit, window: '60s' } },
  };

  before(async () => {
    instances.push(await startInstance(0, { screening }), await startInstance(1, { screening }));
    await waitForBackends();
  });

  after(async () => {
    await Promise.all(instances.map((instance) => instance.stop()));
  });

  test('one client through HAProxy gets the limit once for the pair, not once per instance', async () => {
    // Counts in Redis outlive a run by the window: a fresh client address each run.
    const from = `127.${[...randomBytes(3)].join('.')}`;
    const banners: string[] = [];
    for (let i = 0; i < 2 * limit; i++) {
      const client = await SmtpTestClient.connect(services.haproxyPort, from);
      banners.push((await client.read(10_000)).last);
      await client.quit();
    }
    const welcomed = banners.slice(0, limit);
    assert.ok(welcomed.every((banner) => banner.startsWith('220 ')), welcomed.join(' | '));
    for (const name of instanceNames) assert.ok(welcomed.some((banner) => banner.startsWith(`220 ${name} `)), `${name} took some: ${welcomed.join(' | ')}`);
    assert.deepEqual(banners.slice(limit), Array(limit).fill(`421 4.7.0 Error: too many connections from ${from}`));
  });
});

describe('scale-out: Redis killed mid-run behind HAProxy', () => {
  const instances: ProxyProcess[] = [];
  let dir: string;
  // A Redis of this test's own: killing it touches no other test.
  let redis: ReturnType<typeof spawn>;

  before(async () => {
    const port = await freePort();
    dir = await mkdtemp(path.join(os.tmpdir(), 'ssp-redis-'));
    redis = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    await until('the test Redis', async () => {
      const socket = await new Promise<net.Socket | undefined>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => resolve(s)).once('error', () => resolve(undefined));
      });
      socket?.destroy();
      return socket !== undefined;
    });
    const screening = {
      access: { allow: ['127.0.0.1/32'] },
      rateLimits: { store: 'redis', redis: { url: `redis://127.0.0.1:${port}` }, connections: { limit: 1000 }, messages: { limit: 1000 } },
    };
    instances.push(await startInstance(0, { screening }), await startInstance(1, { screening }));
    await waitForBackends();
  });

  after(async () => {
    redis.kill('SIGKILL');
    await Promise.all(instances.map((instance) => instance.stop()));
    await rm(dir, { recursive: true, force: true });
  });

  test('mail keeps flowing: every message accepted at the first try and delivered once; both instances say Redis is down', async () => {
    const messages = Array.from({ length: 24 }, () => taggedAddress());
    const outcomes: Outcome[] = [];
    let killed = false;
    await Promise.all(
      [0, 1].map(async (c) => {
        for (const { address, tag } of messages.filter((_, i) => i % 2 === c)) {
          outcomes.push(await sendOnce(`127.0.0.${70 + c}`, address, tag));
          if (outcomes.length >= 8 && !killed) {
            killed = true;
            redis.kill('SIGKILL');
          }
        }
      }),
    );
    assert.deepEqual(outcomes.filter((o) => o.kind !== 'accepted'), []);
    const tags = messages.map(({ tag }) => tag);
    await until('every message in the Maildir', async () => (await deliveries('alice', tags)).every((n) => n > 0));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.deepEqual((await deliveries('alice', tags)).filter((n) => n !== 1), []);
    for (const instance of instances) {
      assert.ok(instance.logs.some((line) => String(line.msg).includes('Redis is down or slow')), `pid ${instance.pid} logged the fallback`);
    }
  });
});
