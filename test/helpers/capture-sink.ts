import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { untilGreets } from './sink.js';

/**
 * A private Postfix smtp-sink on a fixed port that keeps every message it accepted as a file
 * in its own directory (smtp-sink -d): a mailbox an upstream test can stop, start again on the
 * same port, and count. Stopped by its PID only.
 */
export class CaptureSink {
  #child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  static async start(port: number): Promise<CaptureSink> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ssp-capture-'));
    // smtp-sink writes as postfix (-u) when started as root.
    await chmod(dir, 0o777);
    const sink = new CaptureSink(port, dir);
    await sink.resume();
    return sink;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Starts smtp-sink (again) on the same port and directory; resolves once it greets. */
  async resume(): Promise<void> {
    const child = spawn('/usr/sbin/smtp-sink', ['-u', 'postfix', '-h', `sink${this.port}.example.test`, '-d', `${this.dir}/%H%M%S.`, `127.0.0.1:${this.port}`, '100'], { stdio: 'ignore' });
    this.#child = child;
    await untilGreets(this.port, child, Date.now() + 10_000);
  }

  /** Kills it at once, as a crash would: sessions in flight are cut. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** How many accepted messages (files) contain each token. */
  async count(tokens: readonly string[]): Promise<Map<string, number>> {
    const counts = new Map(tokens.map((token) => [token, 0]));
    for (const file of await readdir(this.dir)) {
      const text = await readFile(path.join(this.dir, file), 'latin1');
      for (const token of tokens) if (text.includes(token)) counts.set(token, counts.get(token)! + 1);
    }
    return counts;
  }

  async remove(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}
