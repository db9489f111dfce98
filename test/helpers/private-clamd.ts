import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { services } from './services.js';

/**
 * A second clamd of the test's own, on a fixed loopback port, loading the signature database
 * the services script wrote for the shared clamd (EICAR). The test may stop it (SIGSTOP) and
 * resume it (SIGCONT) without disturbing anyone else. Stopped by its PID only.
 */
export class PrivateClamd {
  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly child: ChildProcess,
  ) {}

  static async start(port: number): Promise<PrivateClamd> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ssp-clamd2-'));
    const conf = path.join(dir, 'clamd.conf');
    await writeFile(conf, [
      'Foreground yes',
      `LogFile ${path.join(dir, 'clamd.log')}`,
      `DatabaseDirectory ${path.join(path.dirname(services.clamdSocket), 'db')}`,
      `TCPSocket ${port}`,
      'TCPAddr 127.0.0.1',
      'ScanMail yes',
      'StreamMaxLength 64M',
      'MaxThreads 8',
      'SelfCheck 0',
      '',
    ].join('\n'));
    const child = spawn('clamd', [`--config-file=${conf}`], { stdio: 'ignore' });
    const clamd = new PrivateClamd(port, dir, child);
    const deadline = Date.now() + 20_000;
    while (!(await clamd.pongs())) {
      if (Date.now() > deadline || child.exitCode !== null) {
        await clamd.stop();
        throw new Error(`the second clamd on ${port} did not start`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return clamd;
  }

  /** SIGSTOP: connections are still accepted by the kernel, nothing answers them. */
  pause(): void {
    this.child.kill('SIGSTOP');
  }

  resume(): void {
    this.child.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGCONT');
      this.child.kill('SIGKILL');
      await exited;
    }
    await rm(this.dir, { recursive: true, force: true });
  }

  private pongs(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = net.connect(this.port, '127.0.0.1');
      let reply = '';
      socket.setTimeout(1000, () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('connect', () => socket.write('zPING\0'));
      socket.on('data', (chunk) => (reply += chunk.toString()));
      socket.once('end', () => resolve(reply.startsWith('PONG')));
      socket.once('error', () => resolve(false));
    });
  }
}
