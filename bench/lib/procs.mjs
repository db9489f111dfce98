// Processes the bench starts: spawn with a pidfile, stop by PID (never by name), and read
// their memory and CPU from /proc. Every process started here is stopped on exit, SIGINT
// and SIGTERM.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const running = new Map(); // pid -> { name, child, pidfile }
let pidDir;

export function setPidDir(dir) {
  pidDir = dir;
  mkdirSync(dir, { recursive: true });
}

/**
 * Starts a process, detached into its own process group only for bookkeeping (we still
 * signal PIDs one by one). stdout/stderr go to logFile unless `stdio` says otherwise.
 */
export function start(name, command, args, { env, cwd, logFile, stdio } = {}) {
  let fd;
  let io = stdio;
  if (!io) {
    fd = openSync(logFile ?? '/dev/null', 'a');
    io = ['ignore', fd, fd];
  }
  const child = spawn(command, args, { env: env ?? process.env, cwd, stdio: io });
  if (fd !== undefined) closeSync(fd);
  if (!child.pid) throw new Error(`${name}: could not start ${command}`);
  const pidfile = pidDir ? path.join(pidDir, `${name}.pid`) : undefined;
  if (pidfile) writeFileSync(pidfile, `${child.pid}\n`);
  const entry = { name, child, pidfile, exited: false, code: null, signal: null };
  entry.exit = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      entry.exited = true;
      entry.code = code;
      entry.signal = signal;
      running.delete(child.pid);
      if (pidfile) rmSync(pidfile, { force: true });
      resolve({ code, signal });
    });
  });
  child.on('error', () => {});
  running.set(child.pid, entry);
  return { pid: child.pid, child, entry, name };
}

/** Registers a child spawned elsewhere (a load generator) so that cleanup kills it too. */
export function track(name, child) {
  if (!child.pid) return child;
  const entry = { name, child, pidfile: undefined, exited: false };
  running.set(child.pid, entry);
  entry.exit = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      entry.exited = true;
      running.delete(child.pid);
      resolve({ code, signal });
    });
  });
  return child;
}

/** PIDs of every descendant of pid (children first found through /proc/<pid>/task/<tid>/children). */
export function descendants(pid) {
  const out = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift();
    let tids = [];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      let text = '';
      try {
        text = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const c of text.trim().split(/\s+/).filter(Boolean).map(Number)) {
        out.push(c);
        queue.push(c);
      }
    }
  }
  return out;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops a started process and its descendants: `signal` to the main PID first (a cluster
 * master then stops its workers), SIGKILL to whatever is left after `grace` ms.
 */
export async function stop(proc, { signal = 'SIGTERM', grace = 5000 } = {}) {
  if (!proc || proc.entry.exited) return;
  const kids = descendants(proc.pid);
  try {
    process.kill(proc.pid, signal);
  } catch {}
  const deadline = Date.now() + grace;
  while (Date.now() < deadline && (!proc.entry.exited || kids.some(alive))) await sleep(25);
  if (!proc.entry.exited) {
    try {
      process.kill(proc.pid, 'SIGKILL');
    } catch {}
    await Promise.race([proc.entry.exit, sleep(2000)]);
  }
  for (const k of kids) {
    if (alive(k)) {
      try {
        process.kill(k, 'SIGKILL');
      } catch {}
    }
  }
}

/** Synchronous last resort (exit handler): SIGKILL every process still running, by PID. */
export function killAllSync() {
  for (const [pid, entry] of running) {
    const kids = descendants(pid);
    for (const p of [pid, ...kids]) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {}
    }
    if (entry.pidfile) rmSync(entry.pidfile, { force: true });
  }
  running.clear();
}

export async function stopAll() {
  await Promise.all([...running.values()].map((entry) => stop({ pid: entry.child.pid, entry }, { grace: 3000 })));
}

export function installCleanup(onSignal) {
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, async () => {
      process.stderr.write(`\nbench: ${sig}: stopping every process started\n`);
      try {
        await onSignal?.();
      } catch {}
      await Promise.race([stopAll(), sleep(5000)]);
      killAllSync();
      process.exit(130);
    });
  }
}

function statusKb(pid, key) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = text.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** VmRSS and VmHWM in bytes, summed over pid and its descendants (cluster workers). */
export function memory(pid) {
  const pids = [pid, ...descendants(pid)];
  let rss = 0;
  let hwm = 0;
  for (const p of pids) {
    rss += statusKb(p, 'VmRSS') * 1024;
    hwm += statusKb(p, 'VmHWM') * 1024;
  }
  return { rss, hwm, processes: pids.length };
}

/** Resets VmHWM of pid and its descendants (Linux: write 5 to clear_refs). */
export function resetPeak(pid) {
  for (const p of [pid, ...descendants(pid)]) {
    try {
      writeFileSync(`/proc/${p}/clear_refs`, '5');
    } catch {}
  }
}

/** user+system CPU seconds of pid and its live descendants. */
export function cpuSeconds(pid) {
  let ticks = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {}
  }
  return ticks / 100; // CLK_TCK is 100 on Linux
}

/** Samples RSS every `every` ms until stopped; returns the maximum seen. */
export function sampler(pid, every = 50) {
  let max = memory(pid).rss;
  const timer = setInterval(() => {
    const { rss } = memory(pid);
    if (rss > max) max = rss;
  }, every);
  return {
    stop() {
      clearInterval(timer);
      const { rss } = memory(pid);
      return Math.max(max, rss);
    },
  };
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once host:port answers with a 220 banner; rejects after `timeout` ms. */
export async function waitBanner(port, { host = '127.0.0.1', timeout = 20_000, proc } = {}) {
  const deadline = Date.now() + timeout;
  let last = 'no attempt';
  while (Date.now() < deadline) {
    if (proc?.entry.exited) throw new Error(`${proc.name} exited (${proc.entry.code ?? proc.entry.signal}) before it listened`);
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, host);
      let buf = '';
      const done = (v) => {
        s.destroy();
        resolve(v);
      };
      s.setTimeout(2000, () => done(false));
      s.on('data', (d) => {
        buf += d;
        if (/^220[ -]/m.test(buf)) {
          s.end('QUIT\r\n');
          done(true);
        } else if (/^\d{3} /m.test(buf)) done(false);
      });
      s.on('error', (e) => {
        last = e.code;
        done(false);
      });
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing answered 220 on ${host}:${port} in ${timeout} ms (${last})`);
}
