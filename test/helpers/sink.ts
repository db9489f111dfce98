import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

export interface Sink {
  readonly port: number;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A private Postfix smtp-sink on a free port, with fault flags (see smtp-sink(1): -q CMD drops
 * the connection after CMD without a reply, -Q CMD answers 421, -r CMD answers 4xx). Stopped
 * by its PID only.
 */
export async function startSink(flags: string[] = []): Promise<Sink> {
  const port = await freePort();
  const child = spawn('/usr/sbin/smtp-sink', ['-u', 'postfix', ...flags, `127.0.0.1:${port}`, '100'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await untilGreets(port, child, Date.now() + 10_000);
  return {
    port,
    process: child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Waits until smtp-sink on `port` sends its 220 banner; throws when it exited or the deadline passed. */
export async function untilGreets(port: number, child: ChildProcess, deadline: number): Promise<void> {
  while (!(await greets(port))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`smtp-sink on ${port} did not start`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function greets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
    // A knock from an ephemeral port that happens to be `port` connects to itself and never hears a banner.
    socket.once('connect', () => {
      if (socket.localPort !== port) return;
      socket.destroy();
      resolve(false);
    });
    socket.once('data', (chunk) => {
      socket.destroy();
      resolve(chunk.toString().startsWith('220'));
    });
    socket.once('error', () => resolve(false));
  });
}
