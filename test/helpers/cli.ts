import { execFile, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { stringify } from 'yaml';

const root = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

/** Runs the CLI to its end; resolves with its exit code and output whatever the code. */
export async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli.ts'), ...args], { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/**
 * A skip reason when user `uid` cannot read the proxy's code in this checkout (a clone under
 * /root, mode 700): a proxy that runs as that user from the start, or a worker it forks after
 * dropping root, could not load it. False when it can, or when we are not root (cannot ask).
 */
export function checkoutUnreadableBy(uid: number): string | false {
  if (process.getuid!() !== 0) return false;
  const cli = path.join(root, 'src/cli.ts');
  const result = spawnSync('test', ['-r', cli], { uid, gid: uid, stdio: 'ignore' });
  return result.status === 0 ? false : `uid ${uid} cannot read ${cli} (the checkout is not reachable by that user)`;
}

/** A YAML config file in a fresh directory; returns its path. */
export async function writeConfig(config: Record<string, unknown>): Promise<string> {
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'ssp-cli-')), 'config.yaml');
  await writeFile(file, stringify(config));
  return file;
}

export interface CliProcess {
  readonly child: ChildProcess;
  /** Log lines (JSON) printed so far. */
  readonly logs: Record<string, unknown>[];
  /** The first "listening" line of the proxy (of its first worker). */
  readonly listening: Promise<{ listen: { port: number }; spool: string }>;
  /** Sends the signal (unless the process has exited) and resolves with the exit code or signal. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** The CLI as a long-running process, e.g. as another user (`options.uid`/`gid`). */
export function spawnCli(configFile: string, options: SpawnOptions = {}): CliProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli.ts'), '--config', configFile], {
    cwd: root,
    ...options,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // A child that could not be started (EACCES for another user, say) never exits: its error ends it.
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
    child.once('error', (error) => {
      stderr += String(error);
      resolve(-1);
    });
  });
  const logs: Record<string, unknown>[] = [];
  const listening = new Promise<{ listen: { port: number }; spool: string }>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      logs.push(entry);
      if (entry.listen && entry.spool) resolve(entry as unknown as { listen: { port: number }; spool: string });
    });
    void exited.then((code) => reject(new Error(`exited (${code}) before listening: ${stderr}`)));
  });
  return {
    child,
    logs,
    listening,
    stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
