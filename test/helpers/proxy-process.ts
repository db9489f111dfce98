import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';

const root = path.resolve(import.meta.dirname, '../..');

export interface ProxyProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  readonly spoolDir: string;
  /** The YAML file the proxy was started with. */
  readonly configFile: string;
  /** Log lines (JSON) the proxy printed so far. */
  readonly logs: Record<string, unknown>[];
  /** Sends the signal and resolves with the exit code (or the signal's name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
  /** Current and peak resident memory, from /proc (bytes). */
  memory(): Promise<{ rss: number; peak: number }>;
}

/**
 * The real CLI in a child process, as an admin runs it (through tsx, so no build is needed),
 * with a YAML config written from `config`: for tests of memory, signals and crashes.
 */
export async function startProxyProcess(config: Record<string, unknown>): Promise<ProxyProcess> {
  const { child, spoolDir, configFile } = await spawnProxyProcess(config);
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        const listenAddress = entry.listen as { port?: number } | undefined;
        if (listenAddress?.port) resolve(listenAddress.port);
      } catch {
        logs.push({ raw: line });
      }
    });
    void exited.then((code) => reject(new Error(`proxy exited (${code}) before listening: ${stderr}`)));
  });
  return {
    child,
    pid: child.pid!,
    port,
    spoolDir,
    configFile,
    logs,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    async memory() {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
      return { rss: kib('VmRSS'), peak: kib('VmHWM') };
    },
  };
}

/** Writes the YAML config and starts the CLI; the caller decides when the proxy counts as started. */
export async function spawnProxyProcess(config: Record<string, unknown>): Promise<{ child: ChildProcess; spoolDir: string; configFile: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ssp-proc-'));
  const spoolDir = path.join(dir, 'spool');
  const file = path.join(dir, 'config.yaml');
  await writeProxyConfig(file, spoolDir, config);
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli.ts'), '--config', file], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { child, spoolDir, configFile: file };
}

/** The YAML config of a proxy process, with the tests' defaults; also for rewriting it before a SIGHUP. */
export async function writeProxyConfig(file: string, spoolDir: string, config: Record<string, unknown>): Promise<void> {
  const defaults = { host: '127.0.0.1', port: 0, hostname: 'proxy.example.test', reverseLookup: false };
  // One listener or a list of them (listen takes both): each gets the defaults.
  const listen = Array.isArray(config.listen)
    ? config.listen.map((entry: Record<string, unknown>) => ({ ...defaults, ...entry }))
    : { ...defaults, ...(config.listen as object) };
  // One process unless the test asks for workers: memory figures are read from this PID.
  const full = { workers: 1, ...config, listen, spool: { dir: spoolDir, ...(config.spool as object) } };
  await writeFile(file, stringify(full));
}
