import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { services } from '../helpers/services.js';
import { freePort } from '../helpers/sink.js';
import { spawnProxyProcess } from '../helpers/proxy-process.js';

// Regression (issue 16): the signal listeners were added only after start-up returned, so a
// SIGTERM that came right after the proxy could be seen (its port answering, its "listening"
// line) killed it with no drain and no last log lines. The window is short, so each test
// starts the proxy many times and signals at the earliest moment.

type Trigger = 'listening line' | 'first TCP connection';

interface Outcome {
  readonly exit: number | string;
  readonly logs: Record<string, unknown>[];
  readonly stderr: string;
}

const config = (extra: Record<string, unknown> = {}) => ({
  upstream: { port: services.postfixPort },
  limits: { greetDelay: 0 },
  shutdown: { timeout: '3s' },
  ...extra,
});

/**
 * Starts the CLI and sends SIGTERM synchronously from the event that first shows the proxy:
 * the stdout chunk that holds the listening line, or the first connect() the port accepts.
 */
async function signalAtFirstSight(extra: Record<string, unknown>, trigger: Trigger): Promise<Outcome> {
  // The TCP trigger must know where to knock before the proxy says where it listens.
  const port = trigger === 'first TCP connection' ? await freePort() : 0;
  const { child } = await spawnProxyProcess(config({ ...extra, listen: { port } }));
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let signalled = false;
  const signal = () => {
    if (signalled) return;
    signalled = true;
    child.kill('SIGTERM');
  };
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (trigger === 'listening line' && stdout.includes('"msg":"smtp-scan-proxy listening"')) signal();
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  let running = true;
  void exited.then(() => (running = false));
  const knock = () => {
    if (!running || signalled) return;
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      // Knocking from an ephemeral port that happens to be `port` connects the socket to itself.
      if (socket.localPort === port) return knock();
      signal();
    });
    socket.once('error', () => setImmediate(knock));
  };
  if (trigger === 'first TCP connection') knock();
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const exit = await exited;
  clearTimeout(timer);
  const logs = stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
  return { exit, logs, stderr };
}

/** What an admin (or systemd) would see wrong: a non-zero exit, or a process that listened but never said "stopped". */
function faults({ exit, logs, stderr }: Outcome): string[] {
  const found: string[] = [];
  if (exit !== 0) found.push(`exit ${exit} ${stderr.trim()}`.trim());
  const listened = logs.filter((entry) => entry.msg === 'smtp-scan-proxy listening').map((entry) => entry.pid);
  for (const pid of listened) {
    const last = logs.filter((entry) => entry.pid === pid).at(-1);
    if (last?.msg !== 'stopped') found.push(`pid ${pid} listened, last line ${JSON.stringify(last?.msg)}`);
  }
  // Both triggers come after some process listened, so that process must have said so.
  if (listened.length === 0) found.push('no process said it was listening');
  return found;
}

async function repeat(times: number, extra: Record<string, unknown>, trigger: Trigger): Promise<void> {
  const failures: string[] = [];
  for (let i = 1; i <= times; i++) {
    const found = faults(await signalAtFirstSight(extra, trigger));
    if (found.length > 0) failures.push(`run ${i}: ${found.join('; ')}`);
  }
  assert.deepEqual(failures, [], `${failures.length} of ${times} runs went wrong`);
}

describe('SIGTERM at the first moment the proxy can be seen: exit 0 after a drain (regression: killed by the signal)', () => {
  test('one process, signalled on its listening line', { timeout: 120_000 }, () => repeat(12, {}, 'listening line'));

  test('one process, signalled when its port first accepts a connection', { timeout: 120_000 }, () =>
    repeat(12, {}, 'first TCP connection'));

  test('workers: 2, the primary signalled on the first listening line', { timeout: 180_000 }, () =>
    repeat(8, { workers: 2 }, 'listening line'));

  test('workers: 2, the primary signalled when the port first accepts a connection', { timeout: 180_000 }, () =>
    repeat(10, { workers: 2 }, 'first TCP connection'));
});
