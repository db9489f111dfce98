// The failover scenario (issue 12): two upstreams, the preferred one killed a third of the way
// through a steady load and started again at two thirds. Every message is counted in the two
// sinks' capture directories: lost (told 250, found nowhere), duplicated (found twice), and
// what the clients saw (4xx, the longest wait).
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, start, stop, waitBanner } from './procs.mjs';
import { findBinary, RUN_DIR } from './targets.mjs';

/** smtp-sink keeping each accepted message as a file (-d) in `dir`. */
async function captureSink(name, port, dir) {
  const bin = findBinary('smtp-sink');
  if (!bin) throw new Error('smtp-sink not found (Debian package postfix)');
  const args = ['-d', `${dir}/%H%M%S.`, `127.0.0.1:${port}`, '1024'];
  if (process.getuid?.() === 0) args.unshift('-u', 'postfix');
  const proc = start(name, bin, args, { logFile: path.join(RUN_DIR, 'logs', `${name}.log`) });
  await waitBanner(port, { proc, timeout: 10_000 });
  return proc;
}

/** One message on its own connection; resolves with the last reply's code (0: connection failed) and the wait. */
function sendOne(port, token, body) {
  return new Promise((resolve) => {
    const startedAt = performance.now();
    const socket = net.connect({ port, host: '127.0.0.1' });
    const lines = [
      'EHLO bench.example.net',
      'MAIL FROM:<bench@client.example.net>',
      'RCPT TO:<alice@example.test>',
      'DATA',
      `Subject: ${token}\r\n\r\n${body}${token}\r\n.`,
      'QUIT',
    ];
    let buffer = '';
    let step = -1;
    let code = 0;
    const done = () => {
      socket.destroy();
      resolve({ token, code, ms: performance.now() - startedAt });
    };
    const timer = setTimeout(done, 60_000);
    socket.setEncoding('latin1');
    socket.on('error', () => undefined).on('close', () => {
      clearTimeout(timer);
      done();
    });
    socket.on('data', (chunk) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\r\n'); end !== -1; end = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (line[3] === '-') continue;
        const reply = Number(line.slice(0, 3));
        const want = step === 3 ? 354 : step === 5 ? 221 : step === -1 ? 220 : 250;
        if (step >= 0 && step <= 4) code = reply;
        if (reply !== want || step === 4 || step === 5) {
          // The message's outcome is known: leave (QUIT after a 250 is a courtesy only).
          if (step === 4 && reply === 250) socket.write('QUIT\r\n');
          return done();
        }
        step++;
        socket.write(`${lines[step]}\r\n`);
      }
    });
  });
}

/** How many capture files hold each token. */
function countTokens(dirs) {
  const counts = new Map();
  for (const dir of dirs) {
    for (const file of readdirSync(dir)) {
      const text = readFileSync(path.join(dir, file), 'latin1');
      for (const token of new Set(text.match(/tok[0-9a-f]{12}/g) ?? [])) counts.set(token, (counts.get(token) ?? 0) + 1);
    }
  }
  return counts;
}

export async function failoverScenario({ startProxy, log, settings }) {
  const { seconds, senders, size } = settings;
  const root = path.join(RUN_DIR, 'failover');
  rmSync(root, { recursive: true, force: true });
  const dirs = { preferred: path.join(root, 'preferred'), backup: path.join(root, 'backup') };
  for (const dir of Object.values(dirs)) {
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o777);
  }
  const ports = { preferred: await freePort(), backup: await freePort() };
  let preferred = await captureSink('failover-preferred', ports.preferred, dirs.preferred);
  const backup = await captureSink('failover-backup', ports.backup, dirs.backup);
  const probeInterval = 1000;
  const proxy = await startProxy({
    upstream: {
      servers: [
        { host: '127.0.0.1', port: ports.preferred, priority: 10 },
        { host: '127.0.0.1', port: ports.backup, priority: 20 },
      ],
      probeInterval: `${probeInterval}ms`,
      connectTimeout: '2s',
      commandTimeout: '10s',
    },
  });
  const body = `${'x'.repeat(76)}\r\n`.repeat(Math.max(1, Math.floor(size / 78)));
  const t0 = performance.now();
  const at = (fraction) => t0 + seconds * 1000 * fraction;
  const sent = [];
  let serial = 0;
  const events = {};
  try {
    const controller = (async () => {
      await sleep(at(1 / 3) - performance.now());
      events.killedAt = performance.now() - t0;
      await stop(preferred, { signal: 'SIGKILL', grace: 2000 });
      log('failover: preferred upstream killed');
      await sleep(at(2 / 3) - performance.now());
      preferred = await captureSink('failover-preferred', ports.preferred, dirs.preferred);
      events.restartedAt = performance.now() - t0;
      log('failover: preferred upstream started again');
    })();
    await Promise.all([
      controller,
      ...Array.from({ length: senders }, async () => {
        while (performance.now() < at(1)) {
          const startedAt = performance.now() - t0;
          const token = `tok${(serial++).toString(16).padStart(12, '0')}`;
          sent.push({ ...(await sendOne(proxy.port, token, body)), startedAt });
        }
      }),
    ]);
  } finally {
    await proxy.stop();
    await stop(preferred);
    await stop(backup);
  }
  const inPreferred = countTokens([dirs.preferred]);
  const inBackup = countTokens([dirs.backup]);
  const copies = (token) => (inPreferred.get(token) ?? 0) + (inBackup.get(token) ?? 0);
  const accepted = sent.filter((m) => m.code === 250);
  const waits = sent.map((m) => m.ms).sort((a, b) => a - b);
  // After the restart plus two probe intervals, new sessions should all go to the preferred server again.
  const settled = accepted.filter((m) => m.startedAt > events.restartedAt + 2 * probeInterval);
  return {
    settings: { seconds, senders, size, probeInterval },
    killedAt: events.killedAt,
    restartedAt: events.restartedAt,
    sent: sent.length,
    accepted: accepted.length,
    tempfailed: sent.filter((m) => m.code >= 400 && m.code < 500).length,
    other: sent.filter((m) => m.code !== 250 && !(m.code >= 400 && m.code < 500)).length,
    lost: accepted.filter((m) => copies(m.token) === 0).length,
    duplicated: sent.filter((m) => copies(m.token) > 1).length,
    toBackup: accepted.filter((m) => inBackup.has(m.token)).length,
    settledToPreferred: settled.filter((m) => inPreferred.has(m.token)).length,
    settled: settled.length,
    p50: waits[Math.floor(waits.length * 0.5)] ?? null,
    p99: waits[Math.floor(waits.length * 0.99)] ?? null,
    longest: waits.at(-1) ?? null,
  };
}

/**
 * Two clamd behind one scanner entry: the shared one (scripts/services.sh) and a second one the
 * bench starts on the same signature database, SIGSTOPped for the middle third of the run.
 * Scans on the stopped one wait for the scanner's timeout and are retried on the other.
 */
export async function scannerFailoverScenario({ startProxy, log, settings }) {
  const { seconds, senders, size, clamdPort, clamdSocket, timeout } = settings;
  const dir = path.join(RUN_DIR, 'failover-clamd');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const conf = path.join(dir, 'clamd.conf');
  writeFileSync(conf, [
    'Foreground yes',
    `LogFile ${path.join(dir, 'clamd.log')}`,
    `DatabaseDirectory ${path.join(path.dirname(clamdSocket), 'db')}`,
    `TCPSocket ${port}`,
    'TCPAddr 127.0.0.1',
    'ScanMail yes',
    'SelfCheck 0',
    '',
  ].join('\n'));
  const clamd = start('failover-clamd', findBinary('clamd') ?? 'clamd', [`--config-file=${conf}`], { logFile: path.join(RUN_DIR, 'logs', 'failover-clamd.log') });
  let proxy;
  const sent = [];
  const events = {};
  try {
    await waitPong(port);
    proxy = await startProxy({
      scanners: [{
        type: 'clamav',
        timeout: `${timeout}ms`,
        servers: [{ host: '127.0.0.1', port: clamdPort }, { host: '127.0.0.1', port }],
      }],
    });
    const body = `${'x'.repeat(76)}\r\n`.repeat(Math.max(1, Math.floor(size / 78)));
    const t0 = performance.now();
    const at = (fraction) => t0 + seconds * 1000 * fraction;
    let serial = 0;
    await Promise.all([
      (async () => {
        await sleep(at(1 / 3) - performance.now());
        process.kill(clamd.pid, 'SIGSTOP');
        events.stoppedAt = performance.now() - t0;
        log('failover: second clamd stopped (SIGSTOP)');
        await sleep(at(2 / 3) - performance.now());
        process.kill(clamd.pid, 'SIGCONT');
        events.resumedAt = performance.now() - t0;
        log('failover: second clamd resumed');
      })(),
      ...Array.from({ length: senders }, async () => {
        while (performance.now() < at(1)) {
          const startedAt = performance.now() - t0;
          sent.push({ ...(await sendOne(proxy.port, `tok${(serial++).toString(16).padStart(12, '0')}`, body)), startedAt });
        }
      }),
    ]);
  } finally {
    try {
      process.kill(clamd.pid, 'SIGCONT');
    } catch {}
    await proxy?.stop();
    await stop(clamd);
  }
  const waits = sent.map((m) => m.ms).sort((a, b) => a - b);
  const during = sent.filter((m) => m.startedAt >= events.stoppedAt && m.startedAt < events.resumedAt).map((m) => m.ms).sort((a, b) => a - b);
  return {
    settings: { seconds, senders, size, timeout },
    stoppedAt: events.stoppedAt,
    resumedAt: events.resumedAt,
    sent: sent.length,
    accepted: sent.filter((m) => m.code === 250).length,
    tempfailed: sent.filter((m) => m.code >= 400 && m.code < 500).length,
    other: sent.filter((m) => m.code !== 250 && !(m.code >= 400 && m.code < 500)).length,
    p50: waits[Math.floor(waits.length * 0.5)] ?? null,
    p99: waits[Math.floor(waits.length * 0.99)] ?? null,
    longest: waits.at(-1) ?? null,
    p50Stopped: during[Math.floor(during.length * 0.5)] ?? null,
  };
}

/** Until clamd answers zPING with PONG (it loads its database first). */
async function waitPong(port, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const pong = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      let reply = '';
      socket.setTimeout(1000, () => socket.destroy());
      socket.once('connect', () => socket.write('zPING\0'));
      socket.on('data', (chunk) => (reply += chunk));
      socket.on('error', () => undefined).on('close', () => resolve(reply.startsWith('PONG')));
    });
    if (pong) return;
    await sleep(100);
  }
  throw new Error(`the second clamd on ${port} did not answer PING`);
}

const n0 = (x) => (x == null ? '–' : Math.round(x).toLocaleString('en-US'));

/** The target row of the report's summary: nothing lost, nothing twice. */
export function failoverCheck(failover) {
  return [
    'failover: preferred upstream killed and restarted mid-run: 0 lost, 0 duplicated (issue 12)',
    failover && !failover.error ? `${n0(failover.lost)} lost, ${n0(failover.duplicated)} duplicated, longest wait ${n0(failover.longest)} ms` : failover?.error ?? 'no data',
    failover && !failover.error ? failover.lost === 0 && failover.duplicated === 0 : null,
  ];
}

/** The target row for the scanner endpoints: no 4xx while one clamd answers. */
export function scannerFailoverCheck(run) {
  return [
    'failover: one of two clamd stopped mid-run: no 4xx while the other answers (issue 12)',
    run && !run.error ? `${n0(run.tempfailed)} 4xx of ${n0(run.sent)}, longest wait ${n0(run.longest)} ms (scanner timeout ${n0(run.settings.timeout)} ms)` : run?.error ?? 'no data',
    run && !run.error ? run.tempfailed === 0 && run.other === 0 : null,
  ];
}

/** The report's section for the failover scenario. */
export function failoverSection(failover, scanners) {
  const L = ['## Failover: the preferred upstream killed and started again (issue 12)', ''];
  if (failover.error) return [...L, `Did not run to the end: ${failover.error}`, ''];
  const s = failover.settings;
  L.push(
    `${s.senders} senders, a connection per message of ${n0(s.size / 1024)} KB, for ${s.seconds} s, through the proxy (no scanners) to two smtp-sinks that keep every message ` +
      `they accept (\`-d\`): \`upstream.servers\` priority 10 (preferred) and 20 (backup), \`probeInterval: ${s.probeInterval}ms\`. ` +
      `The preferred sink is killed (SIGKILL) at ${n0(failover.killedAt / 1000)} s and started again at ${n0(failover.restartedAt / 1000)} s. ` +
      'Lost: told 250, found in neither capture directory. Duplicated: found twice.',
    '',
    '| sent | 250 | 4xx | other | lost | duplicated | to the backup | back to the preferred after the restart | p50 ms | p99 ms | longest wait ms |',
    '|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    `| ${n0(failover.sent)} | ${n0(failover.accepted)} | ${n0(failover.tempfailed)} | ${n0(failover.other)} | ${n0(failover.lost)} | ${n0(failover.duplicated)} | ` +
      `${n0(failover.toBackup)} | ${n0(failover.settledToPreferred)} of ${n0(failover.settled)} | ${n0(failover.p50)} | ${n0(failover.p99)} | ${n0(failover.longest)} |`,
    '',
    'A 4xx is a session cut by the kill in the middle of its transaction; the sender retries it later. ' +
      '"Back to the preferred": the 250s of messages started two probe intervals after the restart, and how many of them the preferred sink has.',
    '',
  );
  if (!scanners) return L;
  if (scanners.error) return [...L, `Two clamd: did not run to the end: ${scanners.error}`, ''];
  const c = scanners.settings;
  L.push(
    `Two clamd behind one \`clamav\` entry (\`servers\`, \`timeout: ${c.timeout}ms\`): the test clamd of scripts/services.sh and a second one the bench starts on the same signature database, ` +
      `SIGSTOPped at ${n0(scanners.stoppedAt / 1000)} s and resumed (SIGCONT) at ${n0(scanners.resumedAt / 1000)} s; ${c.senders} senders, a connection per message of ${n0(c.size / 1024)} KB, for ${c.seconds} s, upstream smtp-sink.`,
    '',
    '| sent | 250 | 4xx | other | p50 ms | p99 ms | longest wait ms | p50 ms while stopped |',
    '|--:|--:|--:|--:|--:|--:|--:|--:|',
    `| ${n0(scanners.sent)} | ${n0(scanners.accepted)} | ${n0(scanners.tempfailed)} | ${n0(scanners.other)} | ${n0(scanners.p50)} | ${n0(scanners.p99)} | ${n0(scanners.longest)} | ${n0(scanners.p50Stopped)} |`,
    '',
    'A scan sent to the stopped clamd waits for the timeout, is retried on the other and the endpoint is skipped until it answers a ping (every 5 s): ' +
      'the longest wait is about one timeout, and only for the scans that were on it when it stopped.',
    '',
  );
  return L;
}
