// The servers under test: a private smtp-sink (the upstream and the "direct" baseline),
// smtp-scan-proxy with a config written here, and Haraka with a config dir written here.
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, openSync, readSync, fstatSync, closeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, start, stop, waitBanner } from './procs.mjs';

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT_DIR = path.resolve(BENCH_DIR, '..');
export const RUN_DIR = path.join(BENCH_DIR, '.run');

const SBIN = ['/usr/sbin', '/usr/bin', '/sbin'];
export function findBinary(name) {
  for (const dir of SBIN) {
    const p = path.join(dir, name);
    if (existsSync(p)) return p;
  }
  return null;
}

// ---------------------------------------------------------------- smtp-sink
/**
 * A private smtp-sink on a free port. `-c` makes it print cumulative counters
 * (sess=N quit=N mesg=N) to its log, which gives the number of messages it received.
 */
export async function startSink({ port, maxConn = 4096, backlog = 4096 } = {}) {
  const bin = findBinary('smtp-sink');
  if (!bin) throw new Error('smtp-sink not found (Debian package postfix)');
  const p = port ?? (await freePort());
  const logFile = path.join(RUN_DIR, 'logs', 'sink.log');
  rmSync(logFile, { force: true });
  const args = ['-c', '-m', String(maxConn)];
  if (process.getuid?.() === 0) args.unshift('-u', 'postfix');
  args.push(`127.0.0.1:${p}`, String(backlog));
  const proc = start('sink', bin, args, { logFile });
  await waitBanner(p, { proc, timeout: 10_000 });
  return {
    kind: 'sink',
    port: p,
    proc,
    /** Messages received so far (the last "mesg=" counter in its log). */
    messages() {
      let fd;
      try {
        fd = openSync(logFile, 'r');
        const size = fstatSync(fd).size;
        const len = Math.min(size, 4096);
        const buf = Buffer.alloc(len);
        readSync(fd, buf, 0, len, size - len);
        const all = [...buf.toString('latin1').matchAll(/mesg=(\d+)/g)];
        return all.length ? Number(all[all.length - 1][1]) : 0;
      } catch {
        return 0;
      } finally {
        if (fd !== undefined) closeSync(fd);
      }
    },
    stop: () => stop(proc),
  };
}

// ---------------------------------------------------------------- smtp-scan-proxy
function deepMerge(a, b) {
  if (!b || typeof b !== 'object' || Array.isArray(b)) return b ?? a;
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = v && typeof v === 'object' && !Array.isArray(v) ? deepMerge(a?.[k] ?? {}, v) : v;
  return out;
}

/** The scanners section (and plugins) of each proxy variant. */
export function proxyScanners(variant, env) {
  switch (variant) {
    case 'pass':
      return {};
    case 'fake':
      return {
        plugins: [path.join(BENCH_DIR, 'fake-delay-scanner.mjs')],
        scanners: [
          { type: 'fake-delay', name: 'fake-av', delay: env.fakeAvMs, concurrency: 10_000, maxQueue: 10_000 },
          { type: 'fake-delay', name: 'fake-spam', delay: env.fakeSpamMs, concurrency: 10_000, maxQueue: 10_000 },
        ],
      };
    case 'clamd':
      // ClamSMTP's set-up: clamd only, the same clamav entry as 'real'.
      return { scanners: [proxyScanners('real', env).scanners[0]] };
    case 'real':
      return {
        scanners: [
          { type: 'clamav', host: '127.0.0.1', port: env.clamdPort, concurrency: 8, maxQueue: 1000, timeout: '30s' },
          {
            type: 'spamassassin',
            host: '127.0.0.1',
            port: env.spamdPort,
            concurrency: 5,
            maxQueue: 1000,
            timeout: '60s',
            rejectScore: 10,
            tagScore: 5,
          },
        ],
      };
    case 'real-rspamd':
      // 'real' with Rspamd in place of spamd: the README's one-line swap, same concurrency and queue.
      return {
        scanners: [
          proxyScanners('real', env).scanners[0],
          { type: 'rspamd', host: '127.0.0.1', port: env.rspamdPort, concurrency: 5, maxQueue: 1000, timeout: '60s' },
        ],
      };
    default:
      throw new Error(`unknown proxy variant ${variant}`);
  }
}

/**
 * Keys the bench sets when the proxy knows them: all the load comes from 127.0.0.1, so the
 * per-address connection limit must be off. A proxy built before a key existed rejects it as
 * unknown; startProxy then drops it and starts again.
 */
const OPTIONAL_KEYS = ['limits.maxClientsPerIp'];

function dropKey(config, dotted) {
  const keys = dotted.split('.');
  let o = config;
  for (const k of keys.slice(0, -1)) o = o?.[k];
  if (o && typeof o === 'object') delete o[keys[keys.length - 1]];
}

export function proxyConfig({ port, sinkPort, variant, env, extra }) {
  const base = {
    listen: { host: '127.0.0.1', port, reverseLookup: false, hostname: 'bench-proxy.example.org' },
    upstream: { host: '127.0.0.1', port: sinkPort, xclient: false, starttls: 'off' },
    limits: { greetDelay: 0, maxClients: 20_000, maxClientsPerIp: 0, maxMessageSize: 64 * 1024 * 1024 },
    spool: { dir: path.join(RUN_DIR, 'proxy-spool') },
    log: { level: 'warn' },
    ...proxyScanners(variant, env),
  };
  return deepMerge(base, extra ?? {});
}

/**
 * Starts `node dist/src/cli.js --config <file>` with the config of `variant`. JSON is YAML, so
 * the file is written as JSON. `extra` is merged in (e.g. { workers: 1 }).
 */
export async function startProxy(options) {
  const dropped = [];
  for (;;) {
    try {
      const proxy = await startProxyOnce({ ...options, dropped });
      proxy.droppedKeys = dropped;
      return proxy;
    } catch (e) {
      const unknown = [...String(e.message).matchAll(/^(\S+): unknown key$/gm)].map((m) => m[1]);
      const droppable = unknown.filter((k) => OPTIONAL_KEYS.includes(k) && !dropped.includes(k));
      if (!droppable.length || droppable.length !== unknown.length) throw e;
      dropped.push(...droppable);
    }
  }
}

async function startProxyOnce({ sinkPort, variant, env, extra, name = `proxy-${variant}`, cpuProf = false, dropped = [] }) {
  const port = await freePort();
  const config = proxyConfig({ port, sinkPort, variant, env, extra });
  for (const k of dropped) dropKey(config, k);
  const dir = path.join(RUN_DIR, 'proxy');
  mkdirSync(dir, { recursive: true });
  mkdirSync(config.spool.dir, { recursive: true });
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
  const countFile = path.join(dir, `${name}.fake-counts`);
  rmSync(countFile, { force: true });
  const nodeArgs = [];
  // Cluster workers inherit execArgv, so every process writes its own CPU.<date>.<pid>...cpuprofile.
  const profDir = path.join(RUN_DIR, 'prof', `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  if (cpuProf) nodeArgs.push('--cpu-prof', '--cpu-prof-dir', profDir);
  const logFile = path.join(RUN_DIR, 'logs', `${name}.log`);
  rmSync(logFile, { force: true });
  const proc = start(name, process.execPath, [...nodeArgs, path.join(ROOT_DIR, 'dist', 'src', 'cli.js'), '--config', file], {
    cwd: ROOT_DIR,
    logFile,
    env: { ...process.env, BENCH_FAKE_COUNT_FILE: countFile },
  });
  try {
    await waitBanner(port, { proc, timeout: 20_000 });
  } catch (e) {
    await stop(proc, { grace: 1000 });
    throw new Error(`${name}: ${e.message}\n${tail(logFile)}`);
  }
  return {
    kind: 'proxy',
    name,
    port,
    proc,
    configFile: file,
    config,
    profDir: cpuProf ? profDir : undefined,
    logFile,
    /** Scans counted by the fake scanners (written by each process at exit). */
    fakeCounts() {
      try {
        const out = {};
        for (const line of readFileSync(countFile, 'utf8').trim().split('\n')) {
          const [, n, c] = line.split(' ');
          out[n] = (out[n] ?? 0) + Number(c);
        }
        return out;
      } catch {
        return null;
      }
    },
    stop: () => stop(proc, { signal: 'SIGTERM', grace: 8000 }),
  };
}

export function tail(file, n = 15) {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------- Haraka
export const HARAKA_PLUGINS = {
  // no_rdns answers lookup_rdns so Haraka does no reverse DNS per connection;
  // rcpt_to.in_host_list accepts the bench's recipient domain (config/host_list).
  pass: ['no_rdns', 'rcpt_to.in_host_list', 'queue/smtp_forward'],
  fake: ['no_rdns', 'rcpt_to.in_host_list', 'fake_av', 'fake_spam', 'queue/smtp_forward'],
  real: ['no_rdns', 'rcpt_to.in_host_list', 'clamd', 'spamassassin', 'queue/smtp_forward'],
  'real-rspamd': ['no_rdns', 'rcpt_to.in_host_list', 'clamd', 'rspamd', 'queue/smtp_forward'],
};

function harakaDir() {
  return path.join(BENCH_DIR, 'node_modules', 'Haraka');
}

/** Writes a Haraka config dir (config/ + plugins/) for `variant` under bench/.run/. */
export function writeHarakaDir({ variant, port, sinkPort, env, nodes }) {
  const dir = path.join(RUN_DIR, `haraka-${variant}`);
  rmSync(dir, { recursive: true, force: true });
  const conf = path.join(dir, 'config');
  mkdirSync(conf, { recursive: true });
  mkdirSync(path.join(dir, 'plugins'), { recursive: true });
  mkdirSync(path.join(dir, 'queue'), { recursive: true });
  const files = {
    'smtp.ini': [
      `listen=127.0.0.1:${port}`,
      `nodes=${nodes}`,
      'inactivity_timeout=300',
      'force_shutdown_timeout=5',
      '',
    ],
    plugins: [...HARAKA_PLUGINS[variant], ''],
    me: ['bench-haraka.example.org', ''],
    host_list: ['example.test', ''],
    'log.ini': ['[main]', 'level=warn', 'timestamps=false', 'format=default', ''],
    // Haraka's own connection.ini (a config file replaces the default whole), with the size
    // limit raised from 25 MB to 64 MB for the 50 MB message.
    'connection.ini': readFileSync(path.join(harakaDir(), 'config', 'connection.ini'), 'utf8')
      .replace(/^bytes=\d+$/m, `bytes=${64 * 1024 * 1024}`)
      .split('\n'),
    'smtp_forward.ini': ['[main]', 'host=127.0.0.1', `port=${sinkPort}`, 'enable_tls=false', ''],
    'outbound.ini': ['[main]', 'disabled=true', ''],
    'clamd.ini': [
      '[main]',
      `clamd_socket=127.0.0.1:${env.clamdPort}`,
      'timeout=30',
      'connect_timeout=10',
      `max_size=${64 * 1024 * 1024}`,
      '',
    ],
    'spamassassin.ini': [
      '[main]',
      `spamd_socket=127.0.0.1:${env.spamdPort}`,
      'reject_threshold=10',
      'max_size=500000',
      'results_timeout=60',
      '',
      '[defer]',
      'error=true',
      'connect_timeout=true',
      'scan_timeout=true',
      '',
    ],
    // The plugin skips local and private client addresses by default, and the bench's clients
    // are all 127.0.0.1: check them, as the proxy does. reject at Rspamd's "reject" action,
    // 451 at "soft reject", as the proxy's adapter answers them.
    'rspamd.ini': [
      'host=127.0.0.1',
      `port=${env.rspamdPort}`,
      'timeout=60',
      '',
      '[check]',
      'local_ip=true',
      'private_ip=true',
      '',
      '[defer]',
      'error=true',
      'timeout=true',
      '',
    ],
    // Plugin hook timeouts (Haraka's default is 30 s per hook): give the real scanners as long
    // as the proxy gives its own (clamd 30 s, spamd 60 s) plus the queue wait in front of spamd.
    'clamd.timeout': ['60', ''],
    'spamassassin.timeout': ['120', ''],
    'rspamd.timeout': ['120', ''],
    'fake_av.delay': [String(env.fakeAvMs), ''],
    'fake_spam.delay': [String(env.fakeSpamMs), ''],
  };
  for (const [name, lines] of Object.entries(files)) writeFileSync(path.join(conf, name), lines.join('\n'));
  const src = path.join(BENCH_DIR, 'haraka-plugins');
  copyFileSync(path.join(src, 'fake_delay.js'), path.join(dir, 'plugins', 'fake_av.js'));
  copyFileSync(path.join(src, 'fake_delay.js'), path.join(dir, 'plugins', 'fake_spam.js'));
  copyFileSync(path.join(src, 'no_rdns.js'), path.join(dir, 'plugins', 'no_rdns.js'));
  return dir;
}

export async function startHaraka({ variant, sinkPort, env, nodes, name = `haraka-${variant}` }) {
  const bin = path.join(harakaDir(), 'bin', 'haraka');
  if (!existsSync(bin)) throw new Error('Haraka is not installed: run `npm --prefix bench ci`');
  const port = await freePort();
  const dir = writeHarakaDir({ variant, port, sinkPort, env, nodes });
  const logFile = path.join(RUN_DIR, 'logs', `${name}.log`);
  rmSync(logFile, { force: true });
  const proc = start(name, process.execPath, [bin, '-c', dir], { cwd: dir, logFile });
  try {
    await waitBanner(port, { proc, timeout: 30_000 });
  } catch (e) {
    await stop(proc, { signal: 'SIGINT', grace: 2000 });
    throw new Error(`${name}: ${e.message}\n${tail(logFile)}`);
  }
  return {
    kind: 'haraka',
    name,
    port,
    proc,
    dir,
    logFile,
    // SIGINT is Haraka's own shutdown signal (it ignores SIGTERM unless it is PID 1); its
    // cluster master stops the workers, and stop() SIGKILLs any left by PID.
    stop: () => stop(proc, { signal: 'SIGINT', grace: 8000 }),
  };
}
