#!/usr/bin/env node
// smtp-scan-proxy benchmarks, side by side with Haraka and a direct smtp-sink (issue 4).
//
//   node bench/run.mjs [--only pass,fake,real,idle,big] [--workers N] [--proxy-config JSON] ...
//   node bench/run.mjs --help
//
// Starts its own smtp-sink, proxy and Haraka processes (by PID, pidfiles in bench/.run/pids),
// drives them with smtp-source and the bench's own Node client, and rewrites
// docs/benchmarks.md (and bench/.run/results.json). The real-scanner scenario needs clamd and
// spamd from scripts/services.sh (run through scripts/with-services.sh, or start them first).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { holdIdle, nodeClient, smtpSource } from './lib/load.mjs';
import { cpuSeconds, installCleanup, memory, resetPeak, sampler, setPidDir, stopAll } from './lib/procs.mjs';
import { chunkingScenario } from './lib/chunking.mjs';
import { failoverScenario, scannerFailoverScenario } from './lib/failover.mjs';
import { floodScenario } from './lib/flood.mjs';
import { clamsmtpVersion, startClamsmtp } from './lib/clamsmtp.mjs';
import { renderReport } from './lib/report.mjs';
import { BENCH_DIR, ROOT_DIR, RUN_DIR, startHaraka, startProxy, startSink, tail } from './lib/targets.mjs';

const HELP = `Usage: node bench/run.mjs [options]

Scenarios (default: all): --only pass,chunking,fake,real,clamsmtp,engines,idle,big,flood,failover
  pass   pass-through, no scanners: direct sink / proxy / Haraka, both regimes
  chunking  pass-through to the test Postfix (scripts/services.sh), which offers CHUNKING: the proxy
         with upstream.chunking auto (BDAT) / off (DATA), both regimes, --chunking-messages 1000 each
  fake   fake scanners (--fake-av-ms 5, --fake-spam-ms 50): proxy (parallel) / Haraka (sequential)
  real   real clamd + spamd (needs scripts/services.sh start clamd spamd): proxy / Haraka; then
         the proxy with clamd + Rspamd (scripts/services.sh start rspamd) on the same load
  clamsmtp  clamd only: the proxy / ClamSMTP (Debian's clamsmtp, started by the bench), both
         regimes, smtp-source with --clamsmtp-messages 1000 each, at most --clamsmtp-seconds 45
         per cell (ClamSMTP's listen backlog of 5 drops connects: msg/s is then over the cap)
  engines   clamd + Rspamd: the proxy / Haraka with haraka-plugin-clamd + haraka-plugin-rspamd,
         both regimes, --engines-messages 500 each (Node client)
  idle   --idle 10000 idle connections: RSS per connection, proxy / Haraka
  big    one --big-size 50000000 byte message: seconds and RSS growth, direct / proxy / Haraka
  flood  --flood-connections 1000 from --flood-addresses 20 listed clients (rbldnsd from
         scripts/services.sh) while one sender delivers --legit-messages 100: proxy with screening
  failover  two upstreams, the preferred one killed at 1/3 of --failover-seconds 15 and started
         again at 2/3, --failover-senders 10: messages lost, duplicated, longest wait; then two
         clamd (one started by the bench), one SIGSTOPped for the middle third: 4xx, longest wait

Sizes (env BENCH_<NAME> works too, e.g. BENCH_MANY_MESSAGES=1000):
  --many-sessions 200 --many-messages 4000   "many senders": a new connection per message
  --busy-sessions 20  --busy-messages 4000   "busy relay": connections reused (smtp-source -d)
  --size 10240                               message body bytes
  --latency-messages 1000                    messages the Node client sends per cell (latency)
  --real-many-messages 100 --real-busy-messages 100   (spamd does 4-9 msg/s here)
  --idle 10000 --idle-procs 2 --big-size 50000000

Servers:
  --workers N            adds "workers: N" to every proxy config (default: the proxy's own)
  --proxy-config JSON    merged into every proxy config, e.g. '{"limits":{"greetDelay":0}}'
  --compare-workers 1    after everything else, run the pass-through proxy again with each of
                         these worker counts (extra rows); '' turns it off
  --haraka-nodes N       Haraka smtp.ini nodes= (default: number of CPUs)
  --targets direct,proxy,haraka
  --cpu-prof             profile the proxy in the pass-through scenario (bench/.run/prof/)
  --no-build             do not run "npm run build" in the root first

Run control:
  --budget 570           seconds for the whole run; cells that would start later are skipped
  --cell-timeout 90      seconds one load run may take before it is stopped and reported
  --out docs/benchmarks.md   --no-write (print the report only)`;

const numberOpt = (name, dflt) => [name, { type: 'string', default: process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`] ?? String(dflt) }];
const { values: argv } = parseArgs({
  options: {
    help: { type: 'boolean', short: 'h' },
    only: { type: 'string', default: process.env.BENCH_ONLY ?? 'pass,chunking,fake,real,clamsmtp,engines,idle,big,flood,failover' },
    targets: { type: 'string', default: process.env.BENCH_TARGETS ?? 'direct,proxy,haraka' },
    ...Object.fromEntries([
      numberOpt('many-sessions', 200),
      numberOpt('many-messages', 4000),
      numberOpt('busy-sessions', 20),
      numberOpt('busy-messages', 4000),
      numberOpt('size', 10240),
      numberOpt('latency-messages', 1000),
      numberOpt('real-many-messages', 100),
      numberOpt('real-busy-messages', 100),
      numberOpt('clamsmtp-messages', 1000),
      numberOpt('clamsmtp-seconds', 45),
      numberOpt('engines-messages', 500),
      numberOpt('chunking-messages', 1000),
      numberOpt('idle', 10000),
      numberOpt('idle-procs', 2),
      numberOpt('big-size', 50_000_000),
      numberOpt('fake-av-ms', 5),
      numberOpt('fake-spam-ms', 50),
      numberOpt('haraka-nodes', os.cpus().length),
      numberOpt('budget', 570),
      numberOpt('cell-timeout', 90),
      numberOpt('flood-connections', 1000),
      numberOpt('flood-addresses', 20),
      numberOpt('flood-concurrency', 50),
      numberOpt('legit-messages', 100),
      numberOpt('failover-seconds', 15),
      numberOpt('failover-senders', 10),
    ]),
    workers: { type: 'string', default: process.env.BENCH_WORKERS },
    'compare-workers': { type: 'string', default: process.env.BENCH_COMPARE_WORKERS ?? '1' },
    'proxy-config': { type: 'string', default: process.env.BENCH_PROXY_CONFIG },
    'cpu-prof': { type: 'boolean', default: process.env.BENCH_CPU_PROF === '1' },
    'no-build': { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    out: { type: 'string', default: path.join(ROOT_DIR, 'docs', 'benchmarks.md') },
  },
  strict: true,
});
if (argv.help) {
  console.log(HELP);
  process.exit(0);
}
const num = (k) => Number(argv[k]);
const only = new Set(argv.only.split(',').map((s) => s.trim()));
const targets = new Set(argv.targets.split(',').map((s) => s.trim()));
const proxyExtra = {
  ...(argv['proxy-config'] ? JSON.parse(argv['proxy-config']) : {}),
  ...(argv.workers ? { workers: Number(argv.workers) } : {}),
};
const scannerEnv = {
  clamdPort: Number(process.env.SSP_CLAMD_PORT ?? 13310),
  spamdPort: Number(process.env.SSP_SPAMD_PORT ?? 10783),
  rspamdPort: Number(process.env.SSP_RSPAMD_PORT ?? 10333),
  fakeAvMs: num('fake-av-ms'),
  fakeSpamMs: num('fake-spam-ms'),
};
const budgetMs = num('budget') * 1000;
const cellTimeoutMs = num('cell-timeout') * 1000;
const tStart = Date.now();
const log = (...a) => console.log(`[${((Date.now() - tStart) / 1000).toFixed(1).padStart(5)} s]`, ...a);
const remaining = () => budgetMs - (Date.now() - tStart);

mkdirSync(path.join(RUN_DIR, 'logs'), { recursive: true });
setPidDir(path.join(RUN_DIR, 'pids'));
let sink;
installCleanup();

const results = {
  started: new Date().toISOString(),
  machine: machineInfo(),
  settings: {
    manySessions: num('many-sessions'),
    manyMessages: num('many-messages'),
    busySessions: num('busy-sessions'),
    busyMessages: num('busy-messages'),
    size: num('size'),
    latencyMessages: num('latency-messages'),
    realManyMessages: num('real-many-messages'),
    realBusyMessages: num('real-busy-messages'),
    clamsmtpMessages: num('clamsmtp-messages'),
    clamsmtpSeconds: num('clamsmtp-seconds'),
    enginesMessages: num('engines-messages'),
    idle: num('idle'),
    idleProcs: num('idle-procs'),
    bigSize: num('big-size'),
    fakeAvMs: num('fake-av-ms'),
    fakeSpamMs: num('fake-spam-ms'),
    harakaNodes: num('haraka-nodes'),
    proxyExtra,
    compareWorkers: argv['compare-workers'].split(',').map((x) => x.trim()).filter(Boolean).map(Number),
    budget: num('budget'),
    cellTimeout: num('cell-timeout'),
    failoverSeconds: num('failover-seconds'),
    failoverSenders: num('failover-senders'),
    only: [...only],
  },
  notes: [],
  scenarios: {},
};

function machineInfo() {
  const sh = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
    } catch {
      return '';
    }
  };
  let haraka = '';
  try {
    haraka = JSON.parse(readFileSync(path.join(BENCH_DIR, 'node_modules', 'Haraka', 'package.json'), 'utf8')).version;
  } catch {}
  const rev = sh('git', ['-C', ROOT_DIR, 'rev-parse', '--short', 'HEAD']);
  const dirty = sh('git', ['-C', ROOT_DIR, 'status', '--porcelain', '--', 'src', 'scanners']) ? ' + uncommitted changes in src/ or scanners/' : '';
  return {
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    haraka,
    postfix: sh('/usr/sbin/postconf', ['-d', '-h', 'mail_version']),
    proxyRevision: rev ? `${rev}${dirty}` : 'unknown',
    fdLimit: sh('bash', ['-c', 'ulimit -n']),
    loadAtStart: os.loadavg().map((x) => Number(x.toFixed(2))),
  };
}

// ------------------------------------------------------------------ set-up
function ensureBuilt() {
  if (!existsSync(path.join(ROOT_DIR, 'node_modules'))) {
    log('root node_modules missing: npm ci in the root');
    const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: ROOT_DIR, stdio: 'inherit', timeout: 300_000 });
    if (r.status !== 0) throw new Error('npm ci in the root failed');
  }
  if (argv['no-build']) return;
  log('npm run build (root)');
  const r = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT_DIR, encoding: 'utf8', timeout: 180_000 });
  if (r.status !== 0) {
    const why = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(0, 5).join(' | ');
    if (!existsSync(path.join(ROOT_DIR, 'dist', 'src', 'cli.js'))) throw new Error(`npm run build failed: ${why}`);
    results.notes.push(`\`npm run build\` failed (${why}); the proxy ran from the dist/ of an earlier build.`);
    log('build failed; using the existing dist/');
  }
}

function probe(port, line, want) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    const done = (v) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(3000, () => done(false));
    s.on('connect', () => s.end(line));
    s.on('data', (d) => {
      buf += d;
      if (want.test(buf)) done(true);
    });
    s.on('error', () => done(false));
    s.on('close', () => done(want.test(buf)));
  });
}

async function scannersUp() {
  const clamd = await probe(scannerEnv.clamdPort, 'zPING\0', /PONG/);
  const spamd = await probe(scannerEnv.spamdPort, 'PING SPAMC/1.5\r\n\r\n', /PONG/);
  return { clamd, spamd };
}

// ------------------------------------------------------------------ one cell
const ZERO = { counts: { '2xx': 0 } };

/**
 * Runs one load against one server: smtp-source (if asked) for msg/s, then the Node client for
 * latency. Measures the server's RSS peak (sampled) and CPU seconds over both runs, and the
 * messages the sink received.
 */
async function cell({ label, server, port, sessions, messages, reuse, useSource = true, useClient = true, capMs = cellTimeoutMs }) {
  const out = { label, sessions, messages, reuse };
  if (remaining() < 45_000) {
    out.skipped = 'time budget of the run used up';
    log(`${label}: skipped (time budget)`);
    return out;
  }
  const clientMessages = useSource ? Math.min(messages, num('latency-messages')) : messages;
  out.clientMessages = clientMessages;
  const pid = server?.proc.pid;
  const sinkBefore = sink.messages();
  const cpu0 = pid ? cpuSeconds(pid) : 0;
  if (pid) resetPeak(pid);
  const rssBefore = pid ? memory(pid).rss : 0;
  const s = pid ? sampler(pid, 100) : null;
  const size = num('size');
  if (useSource) {
    out.source = await smtpSource({ port, sessions, messages, size, reuse, timeoutMs: Math.min(capMs, remaining() - 15_000) });
  }
  if (useClient) {
    out.client = await nodeClient({
      port,
      sessions,
      messages: clientMessages,
      size,
      reuse,
      timeoutMs: Math.min(capMs, remaining() - 15_000),
    });
  }
  await sleep(300); // the sink's counter is written when a session ends
  out.sinkReceived = sink.messages() - sinkBefore;
  out.expectedAtSink = (out.source?.completed ?? 0) + (out.client?.counts?.['2xx'] ?? 0);
  if (pid) {
    out.rssBefore = rssBefore;
    out.rssPeak = Math.max(s.stop(), memory(pid).hwm);
    out.cpuSeconds = cpuSeconds(pid) - cpu0;
    out.processes = memory(pid).processes;
  }
  const done = out.expectedAtSink || 0;
  out.cpuMsPerMsg = pid && done ? (out.cpuSeconds * 1000) / done : null;
  const src = out.source;
  const cli = out.client ?? ZERO;
  log(
    `${label}: ` +
      (src ? `smtp-source ${src.completed}/${messages} ${src.msgPerSec.toFixed(0)} msg/s${src.error ? ` (${src.error})` : ''}; ` : '') +
      (out.client
        ? `client ${cli.counts?.['2xx'] ?? 0}/${clientMessages} ${cli.msgPerSec?.toFixed(0)} msg/s p50 ${cli.p50?.toFixed(1)} p99 ${cli.p99?.toFixed(1)} ms` +
          `${cli.error ? ` (${cli.error})` : ''}${Object.keys(cli.failures ?? {}).length ? ` failures ${JSON.stringify(cli.failures)}` : ''}; `
        : '') +
      `sink ${out.sinkReceived}/${out.expectedAtSink}` +
      (pid ? `; RSS peak ${(out.rssPeak / 2 ** 20).toFixed(0)} MB; CPU ${out.cpuSeconds.toFixed(1)} s` : ''),
  );
  return out;
}

const regimes = () => [
  { key: 'many', name: 'many senders', sessions: num('many-sessions'), messages: num('many-messages'), reuse: false },
  { key: 'busy', name: 'busy relay', sessions: num('busy-sessions'), messages: num('busy-messages'), reuse: true },
];

async function withServer(startFn, body) {
  let server;
  try {
    server = await startFn();
  } catch (e) {
    return { error: String(e.message ?? e) };
  }
  try {
    return await body(server);
  } finally {
    await server.stop();
  }
}

// ------------------------------------------------------------------ scenarios
async function throughputScenario(variant, { regimeList, useSource, direct }) {
  const scenario = { variant, regimes: {} };
  for (const r of regimeList) scenario.regimes[r.key] = { name: r.name, sessions: r.sessions, messages: r.messages, reuse: r.reuse, rows: {} };
  if (direct && targets.has('direct')) {
    for (const r of regimeList) {
      scenario.regimes[r.key].rows.direct = await cell({ label: `${variant}/${r.key}/direct`, port: sink.port, ...r, useSource });
    }
  }
  if (targets.has('proxy')) {
    const res = await withServer(
      () => startProxy({ sinkPort: sink.port, variant, env: scannerEnv, extra: proxyExtra, cpuProf: argv['cpu-prof'] && variant === 'pass' }),
      async (proxy) => {
        const rows = {};
        for (const r of regimeList) rows[r.key] = await cell({ label: `${variant}/${r.key}/proxy`, server: proxy, port: proxy.port, ...r, useSource });
        return { rows, proxy };
      },
    );
    if (res.error) {
      scenario.proxyError = res.error;
      log(`${variant}: proxy did not start: ${res.error.split('\n')[0]}`);
    } else {
      for (const r of regimeList) scenario.regimes[r.key].rows.proxy = res.rows[r.key];
      if (variant === 'fake') {
        const counts = res.proxy.fakeCounts();
        scenario.fakeScans = counts;
        const sent = regimeList.reduce((n, r) => n + (res.rows[r.key].expectedAtSink ?? 0), 0);
        if (!counts || Object.values(counts).every((c) => c === 0)) {
          scenario.proxyInvalid = 'the fake scanners were loaded but never called: the proxy does not run its scan stage yet';
        } else if (Object.values(counts).some((c) => c < sent)) {
          scenario.proxyInvalid = `the fake scanners ran ${JSON.stringify(counts)} times for ${sent} relayed messages`;
        }
        if (scenario.proxyInvalid) log(`fake: ${scenario.proxyInvalid}`);
      }
      const errs = tail(res.proxy.logFile, 5);
      if (/error|fatal/i.test(errs)) scenario.proxyLogTail = errs;
    }
  }
  if (targets.has('haraka')) {
    const res = await withServer(
      () => startHaraka({ variant, sinkPort: sink.port, env: scannerEnv, nodes: num('haraka-nodes') }),
      async (haraka) => {
        const rows = {};
        for (const r of regimeList) rows[r.key] = await cell({ label: `${variant}/${r.key}/haraka`, server: haraka, port: haraka.port, ...r, useSource });
        return { rows };
      },
    );
    if (res.error) {
      scenario.harakaError = res.error;
      log(`${variant}: Haraka did not start: ${res.error.split('\n')[0]}`);
    } else for (const r of regimeList) scenario.regimes[r.key].rows.haraka = res.rows[r.key];
  }
  return scenario;
}

async function idleScenario() {
  const count = num('idle');
  const procs = Math.max(1, num('idle-procs'));
  const out = { count, procs, rows: {} };
  const one = async (key, startFn) => {
    if (remaining() < 60_000) {
      log(`idle/${key}: skipped (time budget)`);
      return { skipped: 'time budget of the run used up' };
    }
    const res = await withServer(startFn, async (server) => {
      await nodeClient({ port: server.port, sessions: 2, messages: 20, size: 1024, reuse: false, timeoutMs: 20_000 }); // warm-up
      await sleep(1000);
      const before = memory(server.proc.pid);
      const hold = await holdIdle({ port: server.port, count, procs, timeoutMs: Math.min(120_000, remaining() - 30_000) });
      await sleep(1500);
      const during = memory(server.proc.pid);
      await hold.release();
      const row = {
        ready: hold.ready,
        failed: hold.failed,
        errors: hold.errors,
        connectSeconds: hold.seconds,
        rssBefore: before.rss,
        rssDuring: during.rss,
        processes: during.processes,
        perConnection: hold.ready ? (during.rss - before.rss) / hold.ready : null,
      };
      log(
        `idle/${key}: ${hold.ready}/${count} connections held (${hold.failed} failed${hold.failed ? ` ${JSON.stringify(hold.errors)}` : ''}) in ${hold.seconds.toFixed(1)} s; ` +
          `RSS ${(before.rss / 2 ** 20).toFixed(0)} → ${(during.rss / 2 ** 20).toFixed(0)} MB = ${row.perConnection ? (row.perConnection / 1024).toFixed(1) : '?'} KB each`,
      );
      return row;
    });
    return res;
  };
  if (targets.has('proxy')) out.rows.proxy = await one('proxy', () => startProxy({ sinkPort: sink.port, variant: 'pass', env: scannerEnv, extra: proxyExtra, name: 'proxy-idle' }));
  if (targets.has('haraka')) out.rows.haraka = await one('haraka', () => startHaraka({ variant: 'pass', sinkPort: sink.port, env: scannerEnv, nodes: num('haraka-nodes'), name: 'haraka-idle' }));
  return out;
}

async function bigScenario() {
  const size = num('big-size');
  const out = { size, rows: {} };
  const timeoutMs = Math.min(cellTimeoutMs, 120_000);
  const measure = async (key, server, port) => {
    if (remaining() < 30_000) {
      log(`big/${key}: skipped (time budget)`);
      return { skipped: 'time budget of the run used up' };
    }
    const pid = server?.proc.pid;
    if (pid) await nodeClient({ port, sessions: 1, messages: 3, size: 10240, reuse: false, timeoutMs: 20_000 }); // warm-up
    await sleep(500);
    const before = pid ? memory(pid) : null;
    if (pid) resetPeak(pid);
    const s = pid ? sampler(pid, 25) : null;
    const sinkBefore = sink.messages();
    const cpu0 = pid ? cpuSeconds(pid) : 0;
    const r = await nodeClient({ port, sessions: 1, messages: 1, size, reuse: false, timeoutMs, replyTimeoutMs: timeoutMs });
    await sleep(300);
    const row = {
      ok: r.counts?.['2xx'] === 1,
      error: r.error ?? (r.counts?.['2xx'] === 1 ? undefined : JSON.stringify(r.failures)),
      seconds: r.dataP50 != null ? r.dataP50 / 1000 : null, // DATA's 354 → final reply
      afterDotSeconds: r.p50 != null ? r.p50 / 1000 : null,
      sinkReceived: sink.messages() - sinkBefore,
    };
    if (pid) {
      const peak = Math.max(s.stop(), memory(pid).hwm);
      row.rssBefore = before.rss;
      row.rssPeak = peak;
      row.rssGrowth = peak - before.rss;
      row.cpuSeconds = cpuSeconds(pid) - cpu0;
    }
    log(
      `big/${key}: ${row.ok ? 'relayed' : `FAILED ${row.error}`} in ${row.seconds?.toFixed(2)} s (after the dot ${row.afterDotSeconds?.toFixed(2)} s); sink ${row.sinkReceived}` +
        (pid ? `; RSS ${(row.rssBefore / 2 ** 20).toFixed(0)} → peak ${(row.rssPeak / 2 ** 20).toFixed(0)} MB (+${(row.rssGrowth / 2 ** 20).toFixed(0)} MB)` : ''),
    );
    return row;
  };
  if (targets.has('direct')) out.rows.direct = await measure('direct', null, sink.port);
  if (targets.has('proxy')) {
    out.rows.proxy = await withServer(
      () => startProxy({ sinkPort: sink.port, variant: 'pass', env: scannerEnv, extra: proxyExtra, name: 'proxy-big' }),
      (p) => measure('proxy', p, p.port),
    );
  }
  if (targets.has('haraka')) {
    out.rows.haraka = await withServer(
      () => startHaraka({ variant: 'pass', sinkPort: sink.port, env: scannerEnv, nodes: num('haraka-nodes'), name: 'haraka-big' }),
      (h) => measure('haraka', h, h.port),
    );
  }
  return out;
}

/**
 * The proxy again on the real scenario's load with Rspamd in place of spamd (clamd unchanged),
 * as rows `proxy@rspamd` beside the spamd ones: the two engines side by side in one run.
 */
async function rspamdRows(scenario, regimeList) {
  if (!targets.has('proxy') || scenario.proxyError) return;
  if (!(await probe(scannerEnv.rspamdPort, 'GET /ping HTTP/1.0\r\n\r\n', /pong/))) {
    scenario.rspamdNotRun = `Rspamd not answering on 127.0.0.1:${scannerEnv.rspamdPort}; start it with scripts/services.sh start rspamd`;
    log(`real: ${scenario.rspamdNotRun}`);
    return;
  }
  log('scenario: real clamd + Rspamd (proxy)');
  const res = await withServer(
    () => startProxy({ sinkPort: sink.port, variant: 'real-rspamd', env: scannerEnv, extra: proxyExtra }),
    async (proxy) => {
      const rows = {};
      for (const r of regimeList) rows[r.key] = await cell({ label: `real/${r.key}/proxy+rspamd`, server: proxy, port: proxy.port, ...r, useSource: false });
      return { rows };
    },
  );
  if (res.error) scenario.rspamdNotRun = `the proxy with Rspamd did not start: ${res.error.split('\n')[0]}`;
  else for (const r of regimeList) scenario.regimes[r.key].rows['proxy@rspamd'] = res.rows[r.key];
}

/**
 * Each server in `servers` ([key, start function]) in turn, on the same regimes: the peers of
 * issue 13 beside the proxy with the same engines.
 */
async function sideBySide(variant, servers, { regimeList, ...load }) {
  const scenario = { variant, regimes: {}, errors: {} };
  for (const r of regimeList) scenario.regimes[r.key] = { name: r.name, sessions: r.sessions, messages: r.messages, reuse: r.reuse, rows: {} };
  for (const [who, startFn] of servers) {
    const res = await withServer(startFn, async (server) => {
      const rows = {};
      for (const r of regimeList) rows[r.key] = await cell({ label: `${variant}/${r.key}/${who}`, server, port: server.port, ...r, ...load });
      return { rows };
    });
    if (res.error) {
      scenario.errors[who] = res.error;
      log(`${variant}: ${who} did not start: ${res.error.split('\n')[0]}`);
    } else for (const r of regimeList) scenario.regimes[r.key].rows[who] = res.rows[r.key];
  }
  return scenario;
}

async function peerScenarios(regimeList) {
  const up = await scannersUp();
  const rspamd = await probe(scannerEnv.rspamdPort, 'GET /ping HTTP/1.0\r\n\r\n', /pong/);
  const sized = (n) => regimeList.map((r) => ({ ...r, messages: n }));
  const proxy =
    (variant, extra = {}, suffix = '') =>
    () =>
      startProxy({ sinkPort: sink.port, variant, env: scannerEnv, extra: { ...proxyExtra, ...extra }, name: `proxy-${variant}${suffix}` });
  if (only.has('clamsmtp')) {
    log('scenario: clamd only, proxy / ClamSMTP');
    // ClamSMTP is one process: the proxy with --compare-workers counts too (rows proxy@workers=N).
    const workerRows = results.settings.compareWorkers.filter((w) => w !== proxyExtra.workers).map((w) => [`proxy@workers=${w}`, proxy('clamd', { workers: w }, `-w${w}`)]);
    results.scenarios.clamsmtp = up.clamd
      ? await sideBySide('clamsmtp', [['proxy', proxy('clamd')], ...workerRows, ['clamsmtp', () => startClamsmtp({ sinkPort: sink.port, env: scannerEnv })]], {
          regimeList: sized(num('clamsmtp-messages')),
          useClient: false,
          capMs: num('clamsmtp-seconds') * 1000,
        })
      : { notRun: `clamd not answering on 127.0.0.1:${scannerEnv.clamdPort}; run the bench through scripts/with-services.sh` };
    results.scenarios.clamsmtp.version = clamsmtpVersion();
  }
  if (only.has('engines')) {
    log('scenario: clamd + Rspamd, proxy / Haraka');
    const haraka = () => startHaraka({ variant: 'real-rspamd', sinkPort: sink.port, env: scannerEnv, nodes: num('haraka-nodes') });
    results.scenarios.engines =
      up.clamd && rspamd
        ? await sideBySide('engines', [['proxy', proxy('real-rspamd')], ['haraka', haraka]], { regimeList: sized(num('engines-messages')), useSource: false })
        : { notRun: `clamd or Rspamd not answering on 127.0.0.1:${scannerEnv.clamdPort}/${scannerEnv.rspamdPort}; run the bench through scripts/with-services.sh` };
  }
}

// ------------------------------------------------------------------ main
async function main() {
  ensureBuilt();
  sink = await startSink();
  log(`smtp-sink on 127.0.0.1:${sink.port} (pid ${sink.proc.pid})`);
  const regimeList = regimes();

  if (only.has('pass')) {
    log('scenario: pass-through');
    results.scenarios.pass = await throughputScenario('pass', { regimeList, useSource: true, direct: true });
  }
  if (only.has('chunking')) {
    log('scenario: BDAT vs DATA to the test Postfix');
    results.scenarios.chunking = await chunkingScenario({
      regimes: regimeList.map((r) => ({ ...r, messages: num('chunking-messages') })),
      startProxy: ({ port, extra, name }) => startProxy({ sinkPort: port, variant: 'pass', env: scannerEnv, extra: { ...proxyExtra, ...extra }, name }),
      postfixPort: Number(process.env.SSP_POSTFIX_OPEN_PORT ?? 10027),
      size: num('size'),
      timeoutMs: Math.min(cellTimeoutMs, remaining() - 15_000),
      log,
    });
  }
  if (only.has('fake')) {
    log(`scenario: fake scanners ${num('fake-av-ms')} ms + ${num('fake-spam-ms')} ms`);
    results.scenarios.fake = await throughputScenario('fake', { regimeList, useSource: true, direct: false });
  }
  if (only.has('real')) {
    log('scenario: real clamd + spamd');
    const up = await scannersUp();
    if (!up.clamd || !up.spamd) {
      const missing = Object.entries(up).filter(([, ok]) => !ok).map(([k]) => k);
      results.scenarios.real = {
        variant: 'real',
        notRun: `${missing.join(' and ')} not answering on 127.0.0.1:${scannerEnv.clamdPort}/${scannerEnv.spamdPort}; run the bench through scripts/with-services.sh or start them with scripts/services.sh start clamd spamd`,
      };
      log(`real: not run: ${results.scenarios.real.notRun}`);
    } else {
      const realRegimes = regimeList.map((r) => ({
        ...r,
        messages: r.key === 'many' ? Math.min(num('real-many-messages'), r.messages) : Math.min(num('real-busy-messages'), r.messages),
      }));
      results.scenarios.real = await throughputScenario('real', { regimeList: realRegimes, useSource: false, direct: false });
      await rspamdRows(results.scenarios.real, realRegimes);
    }
  }
  if (only.has('clamsmtp') || only.has('engines')) await peerScenarios(regimeList);
  if (only.has('idle')) {
    log(`scenario: ${num('idle')} idle connections`);
    results.scenarios.idle = await idleScenario();
  }
  if (only.has('big')) {
    log(`scenario: one ${(num('big-size') / 1e6).toFixed(0)} MB message`);
    results.scenarios.big = await bigScenario();
  }
  if (only.has('flood')) {
    log(`scenario: flood of ${num('flood-connections')} connections from ${num('flood-addresses')} listed clients`);
    const dnsServer = `127.0.0.1:${Number(process.env.SSP_RBLDNSD_PORT ?? 10053)}`;
    const screening = { dnsLists: { resolver: { servers: [dnsServer] }, zones: [{ zone: 'block.test', name: 'block.test', weight: 2 }] } };
    results.scenarios.flood = await floodScenario({
      startProxy: (port, name) => startProxy({ sinkPort: port, variant: 'fake', env: scannerEnv, extra: { ...proxyExtra, screening }, name }),
      sinkPort: sink.port,
      settings: {
        floodConnections: num('flood-connections'),
        floodAddresses: num('flood-addresses'),
        floodConcurrency: num('flood-concurrency'),
        legitMessages: num('legit-messages'),
        size: num('size'),
        dnsServer,
      },
      log,
    });
  }
  if (only.has('failover')) {
    log(`scenario: failover, ${num('failover-seconds')} s`);
    results.scenarios.failover = await failoverScenario({
      startProxy: (extra) => startProxy({ sinkPort: sink.port, variant: 'pass', env: scannerEnv, extra: { ...proxyExtra, ...extra }, name: 'proxy-failover' }),
      settings: { seconds: num('failover-seconds'), senders: num('failover-senders'), size: num('size') },
      log,
    }).catch((error) => ({ error: String(error.message ?? error).split('\n')[0] }));
    if ((await scannersUp()).clamd && process.env.SSP_CLAMD_SOCKET) {
      results.scenarios.failoverScanners = await scannerFailoverScenario({
        startProxy: (extra) => startProxy({ sinkPort: sink.port, variant: 'pass', env: scannerEnv, extra: { ...proxyExtra, ...extra }, name: 'proxy-failover-clamd' }),
        settings: {
          seconds: num('failover-seconds'),
          senders: num('failover-senders'),
          size: num('size'),
          clamdPort: scannerEnv.clamdPort,
          clamdSocket: process.env.SSP_CLAMD_SOCKET,
          timeout: 2000,
        },
        log,
      }).catch((error) => ({ error: String(error.message ?? error).split('\n')[0] }));
    } else results.scenarios.failoverScanners = { error: 'clamd not answering: run the bench through scripts/with-services.sh' };
  }
  const pass = results.scenarios.pass;
  if (pass && targets.has('proxy')) {
    for (const w of results.settings.compareWorkers) {
      if (w === proxyExtra.workers) continue;
      log(`pass-through again with workers: ${w}`);
      const key = `proxy@workers=${w}`;
      const res = await withServer(
        () => startProxy({ sinkPort: sink.port, variant: 'pass', env: scannerEnv, extra: { ...proxyExtra, workers: w }, name: `proxy-pass-w${w}` }),
        async (proxy) => {
          for (const r of regimeList) pass.regimes[r.key].rows[key] = await cell({ label: `pass/${r.key}/${key}`, server: proxy, port: proxy.port, ...r, useSource: true });
          return {};
        },
      );
      if (res.error) results.notes.push(`The proxy with workers: ${w} did not start: ${res.error.split('\n')[0]}`);
    }
  }
}

let failed = null;
try {
  await main();
} catch (e) {
  failed = e;
  results.notes.push(`The run stopped early: ${String(e.message ?? e).split('\n')[0]}`);
  log(`FAILED: ${e.stack ?? e}`);
}
await stopAll();
results.seconds = (Date.now() - tStart) / 1000;
results.machine.loadAtEnd = os.loadavg().map((x) => Number(x.toFixed(2)));
writeFileSync(path.join(RUN_DIR, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
const report = renderReport(results);
if (argv['no-write']) console.log(report);
else {
  mkdirSync(path.dirname(argv.out), { recursive: true });
  writeFileSync(argv.out, report);
  log(`wrote ${path.relative(process.cwd(), argv.out) || argv.out} and ${path.relative(process.cwd(), path.join(RUN_DIR, 'results.json'))}`);
}
log(`done in ${results.seconds.toFixed(0)} s`);
process.exit(failed ? 1 : 0);
