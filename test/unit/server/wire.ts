import net from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

/**
 * A raw client for the connection-patch tests: every reply line with the time it arrived (ms
 * after connect), so the tests can tell when the banner came, not only what it said.
 */
export class Wire {
  readonly lines: { text: string; at: number }[] = [];
  closed = false;
  private buffer = '';
  private wake: (() => void) | undefined;

  private constructor(
    private readonly socket: net.Socket,
    private readonly started: number,
  ) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let end: number;
      while ((end = this.buffer.indexOf('\r\n')) !== -1) {
        this.lines.push({ text: this.buffer.slice(0, end), at: performance.now() - this.started });
        this.buffer = this.buffer.slice(end + 2);
      }
      this.wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    socket.on('error', () => {});
  }

  static async connect(port: number): Promise<Wire> {
    const started = performance.now();
    const socket = net.connect({ port, host: '127.0.0.1' });
    await once(socket, 'connect');
    return new Wire(socket, started);
  }

  send(line: string): void {
    this.socket.write(`${line}\r\n`);
  }

  /** The next line not yet taken; rejects after `timeoutMs` or when the server hangs up first. */
  async line(timeoutMs = 2000): Promise<{ text: string; at: number }> {
    const deadline = performance.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (this.closed) throw new Error('connection closed before a reply');
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    return this.lines.shift()!;
  }

  /** Sends a command and returns its reply's last line (multi-line replies are skipped through). */
  async command(line: string): Promise<string> {
    this.send(line);
    for (;;) {
      const { text } = await this.line();
      if (text[3] !== '-') return text;
    }
  }

  async closedWithin(ms: number): Promise<boolean> {
    if (!this.closed) await Promise.race([once(this.socket, 'close'), new Promise((resolve) => setTimeout(resolve, ms))]);
    return this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** An smtp-server as the proxy configures it where it matters here, on a free loopback port. */
export async function startServer(options: SMTPServerOptions): Promise<{ server: SMTPServer; port: number }> {
  const server = new SMTPServer({
    logger: false,
    disabledCommands: ['AUTH', 'STARTTLS'],
    hideSTARTTLS: true,
    hideENHANCEDSTATUSCODES: false,
    disableReverseLookup: true,
    ...options,
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.server.address() as AddressInfo).port };
}

export function stopServer(server: SMTPServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
