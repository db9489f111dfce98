import net from 'node:net';
import tls from 'node:tls';

/** A reply as a test sees it: the code, the lines without their prefix, and the raw wire text. */
export interface WireReply {
  code: number;
  lines: string[];
  /** The last line as it was sent, e.g. "250 2.0.0 Ok: queued as 3F". */
  last: string;
}

/**
 * A raw SMTP client for tests that read like transcripts: it sends exactly the bytes it is
 * given and reads replies one at a time, so pipelining and malformed input can be tested.
 * Kept independent of the proxy's own SMTP code on purpose.
 */
export class SmtpTestClient {
  private buffer = '';
  private pendingLines: string[] = [];
  private readonly waiting: ((reply: WireReply | Error) => void)[] = [];
  private readonly replies: (WireReply | Error)[] = [];
  closed = false;

  private constructor(private socket: net.Socket | tls.TLSSocket) {
    this.listen(socket);
  }

  /**
   * `from`: the local address to connect from (127.0.0.2 is another client on loopback); from
   * ::1 the client connects to [::1].
   */
  static connect(port: number, from?: string): Promise<SmtpTestClient> {
    const host = from && net.isIPv6(from) ? '::1' : '127.0.0.1';
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host, ...(from ? { localAddress: from } : {}) }, () => resolve(new SmtpTestClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Connected with TLS from the first byte (a listener with implicit TLS, port 465's way). */
  static connectTls(port: number, from?: string): Promise<SmtpTestClient> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...(from ? { localAddress: from } : {}) }, () =>
        resolve(new SmtpTestClient(socket)),
      );
      socket.once('error', reject);
    });
  }

  /** Connected, greeting read and checked. */
  static async greeted(port: number, from?: string): Promise<SmtpTestClient> {
    const client = await SmtpTestClient.connect(port, from);
    const banner = await client.read();
    if (banner.code !== 220) throw new Error(`no 220 banner: ${banner.last}`);
    return client;
  }

  /** Greeted and after a successful EHLO. */
  static async afterEhlo(port: number, name = 'client.example.net', from?: string): Promise<SmtpTestClient> {
    const client = await SmtpTestClient.greeted(port, from);
    const ehlo = await client.command(`EHLO ${name}`);
    if (ehlo.code !== 250) throw new Error(`EHLO refused: ${ehlo.last}`);
    return client;
  }

  /** Sends one line (CRLF added) and reads its reply. */
  async command(line: string): Promise<WireReply> {
    this.write(`${line}\r\n`);
    return this.read();
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  read(timeout = 30_000): Promise<WireReply> {
    const queued = this.replies.shift();
    if (queued) return queued instanceof Error ? Promise.reject(queued) : Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no reply in time')), timeout);
      this.waiting.push((reply) => {
        clearTimeout(timer);
        if (reply instanceof Error) reject(reply);
        else resolve(reply);
      });
    });
  }

  /** MAIL, RCPTs, DATA and the message (dot-stuffed here), returning every reply. */
  async send(from: string, to: string[], message: string | Buffer): Promise<{ mail: WireReply; rcpts: WireReply[]; data?: WireReply; final?: WireReply }> {
    const mail = await this.command(`MAIL FROM:<${from}>`);
    const rcpts: WireReply[] = [];
    for (const rcpt of to) rcpts.push(await this.command(`RCPT TO:<${rcpt}>`));
    const data = await this.command('DATA');
    if (data.code !== 354) return { mail, rcpts, data };
    this.write(Buffer.concat([dotStuff(Buffer.from(message)), Buffer.from('.\r\n')]));
    return { mail, rcpts, data, final: await this.read(120_000) };
  }

  async startTls(options: tls.ConnectionOptions = { rejectUnauthorized: false }): Promise<void> {
    const reply = await this.command('STARTTLS');
    if (reply.code !== 220) throw new Error(`STARTTLS refused: ${reply.last}`);
    this.socket.removeAllListeners('data');
    const secure = tls.connect({ socket: this.socket, ...options });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    this.socket = secure;
    this.listen(secure);
  }

  async quit(): Promise<void> {
    if (!this.closed) await this.command('QUIT').catch(() => undefined);
    this.close();
  }

  close(): void {
    this.socket.destroy();
  }

  /** Resolves when the server closes the connection. */
  closedByServer(timeout = 10_000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('connection still open')), timeout);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private listen(socket: net.Socket): void {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.parse();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.deliver(new Error('connection closed'));
    });
  }

  private parse(): void {
    for (;;) {
      const end = this.buffer.indexOf('\r\n');
      if (end === -1) return;
      const line = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      this.pendingLines.push(line);
      if (line[3] === '-') continue;
      const lines = this.pendingLines.map((l) => l.slice(4));
      this.pendingLines = [];
      this.deliver({ code: Number(line.slice(0, 3)), lines, last: line });
    }
  }

  private deliver(reply: WireReply | Error): void {
    const waiter = this.waiting.shift();
    if (waiter) waiter(reply);
    else if (!(reply instanceof Error) || this.replies.length === 0) this.replies.push(reply);
  }
}

/** RFC 5321 4.5.2 transparency for the message a test sends. Assumes CRLF line ends. */
export function dotStuff(message: Buffer): Buffer {
  const text = message.toString('latin1');
  const stuffed = (text.startsWith('.') ? '.' : '') + text.replace(/\r\n\./g, '\r\n..');
  return Buffer.from(stuffed.endsWith('\r\n') ? stuffed : `${stuffed}\r\n`, 'latin1');
}
