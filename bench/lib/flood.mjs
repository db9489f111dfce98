// The flood scenario (issue 9): listed clients hammer the proxy while one legitimate sender
// delivers. Screening must refuse the listed ones before they cost an upstream session or a
// scan; the legitimate sender's latency shows what the flood costs everyone else.
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuSeconds } from './procs.mjs';

/** A TCP relay in front of the sink that counts the sessions the proxy opens upstream. */
export function countingRelay(targetPort) {
  let sessions = 0;
  const sockets = new Set();
  const server = net.createServer((client) => {
    sessions++;
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s)).on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: server.address().port,
        sessions: () => sessions,
        close: () => {
          for (const s of sockets) s.destroy();
          return new Promise((done) => server.close(done));
        },
      }),
    );
  });
}

/** One SMTP dialogue, line by line; resolves with every reply's first line. Never rejects. */
function dialogue(port, from, lines, { timeoutMs = 30_000, message } = {}) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: from });
    const replies = [];
    let buffer = '';
    let step = 0;
    let sentAt = 0;
    const timings = [];
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ replies, timings });
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.setEncoding('latin1');
    socket.on('error', finish).on('close', finish);
    socket.on('data', (chunk) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\r\n'); end !== -1; end = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (line[3] === '-') continue;
        replies.push(line);
        if (sentAt) timings.push(performance.now() - sentAt);
        const code = Number(line.slice(0, 3));
        if (code >= 400 && (replies.length === 1 || code === 421 || code === 521)) return finish();
        const next = code === 354 ? message : lines[step++];
        if (next === undefined) return finish();
        sentAt = code === 354 ? performance.now() : 0;
        socket.write(`${next}\r\n`);
      }
    });
  });
}

const percentile = (values, p) => {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

/** `count` connections from `addresses` in turn, `concurrency` at a time, each trying a whole message. */
async function flood(port, addresses, count, concurrency) {
  let next = 0;
  const outcomes = {};
  const botLines = ['EHLO bot.example.net', 'MAIL FROM:<bot@spam.example>', 'RCPT TO:<rcpt@example.test>', 'DATA', 'QUIT'];
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let i = next++; i < count; i = next++) {
      const { replies } = await dialogue(port, addresses[i % addresses.length], botLines, { message: 'Subject: buy\r\n\r\nspam\r\n.' });
      const last = replies.find((r) => r.startsWith('5') || r.startsWith('4')) ?? replies.at(-1) ?? 'no reply';
      const key = last.slice(0, 3);
      outcomes[key] = (outcomes[key] ?? 0) + 1;
    }
  }));
  return outcomes;
}

/** `count` messages from one address, a connection each; the latency is final dot to reply. */
async function legitimate(port, from, count, size) {
  const body = `Subject: legit\r\n\r\n${'x'.repeat(76)}\r\n`.repeat(Math.max(1, Math.floor(size / 78)));
  const latencies = [];
  let delivered = 0;
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const { replies, timings } = await dialogue(port, from, ['EHLO legit.example.net', 'MAIL FROM:<legit@example.org>', 'RCPT TO:<rcpt@example.test>', 'DATA', 'QUIT'], { message: `${body}.` });
    const final = replies.at(-2);
    if (final?.startsWith('250') && replies.some((r) => r.startsWith('354'))) {
      delivered++;
      latencies.push(timings[0]);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  return { delivered, requested: count, p50: percentile(latencies, 50), p99: percentile(latencies, 99), msgPerSec: delivered / seconds };
}

/**
 * Three runs on fresh proxies (scans are counted per proxy process): the flood alone (what a
 * refused connection costs, and that it opens no upstream session and calls no scanner), the
 * legitimate sender alone (the baseline), then both at once.
 */
export async function floodScenario({ startProxy, sinkPort, settings, log }) {
  const listed = Array.from({ length: settings.floodAddresses }, (_, i) => `127.0.1.${i + 1}`);
  const legitFrom = '127.0.0.60';
  const relay = await countingRelay(sinkPort);
  const start = (name) => startProxy(relay.port, name);
  const out = { settings: { ...settings, listed: `${listed[0]}..${listed.at(-1)}`, legitFrom } };
  try {
    let proxy = await start('proxy-flood');
    await sleep(500);
    let sessions0 = relay.sessions();
    let cpu0 = cpuSeconds(proxy.proc.pid);
    out.floodAlone = await flood(proxy.port, listed, settings.floodConnections, settings.floodConcurrency);
    out.floodCpuSeconds = cpuSeconds(proxy.proc.pid) - cpu0;
    out.floodUpstreamSessions = relay.sessions() - sessions0;
    await proxy.stop();
    out.floodScans = proxy.fakeCounts();
    log(`flood alone: ${JSON.stringify(out.floodAlone)}; upstream sessions ${out.floodUpstreamSessions}; scans ${JSON.stringify(out.floodScans)}; CPU ${out.floodCpuSeconds.toFixed(2)} s`);

    proxy = await start('proxy-flood-legit');
    await sleep(500);
    cpu0 = cpuSeconds(proxy.proc.pid);
    sessions0 = relay.sessions();
    out.legitAlone = await legitimate(proxy.port, legitFrom, settings.legitMessages, settings.size);
    out.legitCpuSeconds = cpuSeconds(proxy.proc.pid) - cpu0;
    out.legitUpstreamSessions = relay.sessions() - sessions0;
    log(`legitimate alone: ${JSON.stringify(out.legitAlone)}; CPU ${out.legitCpuSeconds.toFixed(2)} s`);
    const [underFlood, floodOutcomes] = await Promise.all([
      legitimate(proxy.port, legitFrom, settings.legitMessages, settings.size),
      flood(proxy.port, listed, settings.floodConnections, settings.floodConcurrency),
    ]);
    out.legitUnderFlood = underFlood;
    out.floodWithLegit = floodOutcomes;
    await proxy.stop();
    log(`legitimate under the flood: ${JSON.stringify(underFlood)}; flood ${JSON.stringify(floodOutcomes)}`);
  } catch (e) {
    out.error = String(e.message ?? e).split('\n')[0];
  } finally {
    await relay.close();
  }
  return out;
}
