// Load generators run as child processes with a time cap: Postfix's smtp-source (throughput),
// the bench's own Node client (latency percentiles, reply classes), and the idle-connection
// holder.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { track } from './procs.mjs';
import { findBinary } from './targets.mjs';

const LIB = path.dirname(fileURLToPath(import.meta.url));

function runChild(command, args, { timeoutMs, input } = {}) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child = track(path.basename(command), spawn(command, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('latin1').on('data', (d) => {
      stdout += d;
      if (stdout.length > 1e6) stdout = stdout.slice(-1e5);
    });
    child.stderr.setEncoding('latin1').on('data', (d) => {
      stderr += d;
      if (stderr.length > 1e6) stderr = stderr.slice(-1e5);
    });
    if (input !== undefined) child.stdin.end(input);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs ?? 120_000);
    child.on('error', (e) => {
      stderr += String(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
    });
  });
}

/**
 * smtp-source -s sessions -m messages -l size [-d]: msg/s is the count of completed DATA
 * transactions (its -c counter) over its wall time. Without -A it stops at the first
 * unexpected reply, so a clean exit with the full count means every message got a 2xx.
 */
export async function smtpSource({ port, sessions, messages, size, reuse, timeoutMs }) {
  const bin = findBinary('smtp-source');
  if (!bin) return { error: 'smtp-source not found (Debian package postfix)' };
  const args = ['-c', '-s', String(sessions), '-m', String(messages), '-l', String(size)];
  args.push('-f', 'sender@example.org', '-t', 'rcpt@example.test', '-M', 'bench-source.example.org');
  if (reuse) args.push('-d');
  args.push(`127.0.0.1:${port}`);
  const r = await runChild(bin, args, { timeoutMs });
  const counters = r.stdout.split(/[\r\n]+/).map((s) => s.trim()).filter((s) => /^\d+$/.test(s));
  const completed = counters.length ? Number(counters[counters.length - 1]) : 0;
  return {
    command: `smtp-source ${args.join(' ')}`,
    completed,
    requested: messages,
    seconds: r.seconds,
    msgPerSec: r.seconds > 0 ? completed / r.seconds : 0,
    exitCode: r.code,
    timedOut: r.timedOut,
    error: r.timedOut ? `timed out after ${Math.round(timeoutMs / 1000)} s` : r.code !== 0 ? (r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`) : undefined,
  };
}

/** The bench's Node client (lib/smtp-client.mjs) in a child process. */
export async function nodeClient(options) {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const r = await runChild(process.execPath, [path.join(LIB, 'smtp-client.mjs'), JSON.stringify(options)], {
    timeoutMs: timeoutMs + 15_000,
  });
  try {
    const out = JSON.parse(r.stdout.trim().split('\n').pop());
    if (out.fatal) return { error: out.fatal.split('\n')[0] };
    if (out.aborted) out.error = `stopped at the ${Math.round(timeoutMs / 1000)} s cap after ${out.counts['2xx']} of ${out.requested} messages`;
    return out;
  } catch {
    return { error: r.timedOut ? 'client killed at its time cap' : `client failed: ${r.stderr.trim().split('\n').pop() ?? r.code}` };
  }
}

/** Holds `count` idle connections split over `procs` processes; returns a handle to release them. */
export async function holdIdle({ port, count, procs, timeoutMs }) {
  const per = Math.ceil(count / procs);
  const children = [];
  const results = await Promise.all(
    Array.from({ length: procs }, (_, i) => {
      const n = Math.min(per, count - i * per);
      return new Promise((resolve) => {
        const child = track(
          'idle-client',
          spawn(process.execPath, [path.join(LIB, 'idle-client.mjs'), JSON.stringify({ port, count: n, parallel: 100, holdMs: timeoutMs + 60_000 })], {
            stdio: ['pipe', 'pipe', 'pipe'],
          }),
        );
        children.push(child);
        let out = '';
        const timer = setTimeout(() => resolve({ ready: 0, failed: n, errors: { 'idle client timeout': n } }), timeoutMs);
        child.stdout.setEncoding('utf8').on('data', (d) => {
          out += d;
          const nl = out.indexOf('\n');
          if (nl >= 0) {
            clearTimeout(timer);
            try {
              resolve(JSON.parse(out.slice(0, nl)));
            } catch {
              resolve({ ready: 0, failed: n, errors: { 'bad output': n } });
            }
          }
        });
        child.on('exit', () => {
          clearTimeout(timer);
          resolve({ ready: 0, failed: n, errors: { 'idle client exited': n } });
        });
      });
    }),
  );
  const sum = { ready: 0, failed: 0, errors: {}, seconds: 0 };
  for (const r of results) {
    sum.ready += r.ready;
    sum.failed += r.failed;
    sum.seconds = Math.max(sum.seconds, r.seconds ?? 0);
    for (const [k, v] of Object.entries(r.errors ?? {})) sum.errors[k] = (sum.errors[k] ?? 0) + v;
  }
  return {
    ...sum,
    async release() {
      await Promise.all(
        children.map(
          (c) =>
            new Promise((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null) return resolve();
              const t = setTimeout(() => {
                c.kill('SIGKILL');
                resolve();
              }, 5000);
              c.once('exit', () => {
                clearTimeout(t);
                resolve();
              });
              c.stdin.end();
            }),
        ),
      );
    },
  };
}
