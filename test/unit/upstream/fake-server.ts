import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import tls from 'node:tls';
import { UpstreamRefusedError } from '../../../src/errors.js';
import { replies } from '../../../src/smtp/replies.js';
import type { UpstreamOptions } from '../../../src/upstream/client.js';

/**
 * A scripted SMTP server for tests. Each accepted connection runs the script, which plays the
 * server's side: send replies, expect exact lines, read the message, stall, hang up.
 * `received` keeps every byte the client sent (decrypted after STARTTLS) for exact assertions.
 */
export class FakeConnection {
  socket: net.Socket;
  // Unread bytes are #data[#start, #end); it grows by doubling, so a 64 MB message stays cheap.
  #data = Buffer.alloc(0);
  #start = 0;
  #end = 0;
  #all: Buffer[] = [];
  #ended = false;
  #wake: (() => void) | undefined;

  constructor(socket: net.Socket) {
    this.socket = socket;
    this.#attach(socket);
  }

  get received(): Buffer {
    return Buffer.concat(this.#all);
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Sends each line with CRLF. */
  send(...lines: string[]): void {
    this.socket.write(lines.map((line) => `${line}\r\n`).join(''));
  }

  sendRaw(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** The next line the client sent, without its line end. */
  async readLine(): Promise<string> {
    const bytes = await this.#take((buffer, from) => {
      const lf = buffer.indexOf('\n', from);
      return lf === -1 ? -1 : lf + 1;
    });
    return bytes.toString('utf8').replace(/\r?\n$/, '');
  }

  async expect(expected: string | RegExp): Promise<string> {
    const line = await this.readLine();
    if (typeof expected === 'string') assert.equal(line, expected);
    else assert.match(line, expected);
    return line;
  }

  /** The message bytes after 354, up to and including CRLF "." CRLF. */
  readData(): Promise<Buffer> {
    return this.#take((buffer, from) => {
      if (buffer.subarray(0, 3).equals(Buffer.from('.\r\n'))) return 3;
      const end = buffer.indexOf('\r\n.\r\n', Math.max(0, from - 4));
      return end === -1 ? -1 : end + 5;
    });
  }

  /** The next `count` bytes the client sent (a BDAT chunk). */
  readBytes(count: number): Promise<Buffer> {
    return this.#take((buffer) => (buffer.length >= count ? count : -1));
  }

  /** Everything the client sends until it closes the connection. */
  async readUntilClose(): Promise<Buffer> {
    while (!this.#ended) await this.#changed();
    const rest = Buffer.from(this.#data.subarray(this.#start, this.#end));
    this.#start = this.#end;
    return rest;
  }

  /**
   * Plays a transcript, one step a line: "S: text" sends a reply line, "C: text" expects the
   * client's next line to be exactly that.
   */
  async play(transcript: string): Promise<void> {
    for (const step of transcript.split('\n').map((line) => line.trim()).filter(Boolean)) {
      const [who, text] = [step.slice(0, 2), step.slice(3)];
      if (who === 'S:') this.send(text);
      else if (who === 'C:') await this.expect(text);
      else throw new Error(`bad transcript step: ${step}`);
    }
  }

  /** Server side of STARTTLS, after the script sent its 220. */
  async startTls(credentials: { key: string; cert: string }): Promise<void> {
    const plain = this.socket;
    plain.removeAllListeners('data');
    const secure = new tls.TLSSocket(plain, { isServer: true, ...credentials });
    this.socket = secure;
    this.#attach(secure);
    await once(secure, 'secure');
  }

  #attach(socket: net.Socket): void {
    socket.on('data', (chunk: Buffer) => {
      this.#all.push(chunk);
      this.#append(chunk);
      this.#wake?.();
    });
    socket.on('close', () => {
      this.#ended = true;
      this.#wake?.();
    });
    socket.on('error', () => {
      // A client that resets the connection is what several tests are about.
    });
  }

  #append(chunk: Buffer): void {
    if (this.#end + chunk.length > this.#data.length) {
      const unread = this.#end - this.#start;
      const grown = Buffer.allocUnsafe(Math.max(2 * (unread + chunk.length), 4096));
      this.#data.copy(grown, 0, this.#start, this.#end);
      this.#data = grown;
      this.#start = 0;
      this.#end = unread;
    }
    this.#end += chunk.copy(this.#data, this.#end);
  }

  /** Takes the unread bytes up to the end `find` reports; `from` is where its last look ended. */
  async #take(find: (unread: Buffer, from: number) => number): Promise<Buffer> {
    let from = 0;
    for (;;) {
      const unread = this.#data.subarray(this.#start, this.#end);
      const end = find(unread, from);
      if (end !== -1) {
        this.#start += end;
        return Buffer.from(unread.subarray(0, end));
      }
      from = unread.length;
      if (this.#ended) throw new Error('client closed the connection');
      await this.#changed();
    }
  }

  #changed(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = () => {
        this.#wake = undefined;
        resolve();
      };
    });
  }
}

export interface FakeServer {
  readonly port: number;
  readonly connections: FakeConnection[];
  /** The script's outcome for the n-th connection (rejects with its assertion error). */
  script(index?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startFakeServer(script: (connection: FakeConnection) => Promise<void>): Promise<FakeServer> {
  const connections: FakeConnection[] = [];
  const scripts: Promise<void>[] = [];
  const waiting: ((value: void) => void)[] = [];
  const server = net.createServer((socket) => {
    const connection = new FakeConnection(socket);
    connections.push(connection);
    const run = script(connection);
    run.catch(() => {}); // reported through script(); unobserved it must not crash the run
    scripts.push(run);
    waiting.shift()?.();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    async script(index = 0) {
      while (scripts.length <= index) await new Promise((resolve) => waiting.push(resolve));
      return scripts[index];
    },
    async close() {
      for (const connection of connections) connection.socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export { freePort } from '../../helpers/sink.js';

/** A throwaway self-signed certificate for localhost and 127.0.0.1. */
export function makeCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ssp-upstream-tls-'));
  try {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ], { stdio: 'ignore' });
    return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Starts a fake server that is closed when the test ends. */
export async function serve(t: TestContext, script: (connection: FakeConnection) => Promise<void>): Promise<FakeServer> {
  const server = await startFakeServer(script);
  t.after(() => server.close());
  return server;
}

export function clientOptions(port: number, overrides: Partial<UpstreamOptions> = {}): UpstreamOptions {
  return {
    host: '127.0.0.1',
    port,
    localName: 'proxy.test',
    connectTimeout: 2000,
    commandTimeout: 2000,
    dataTimeout: 2000,
    tls: { mode: 'off', rejectUnauthorized: true },
    ...overrides,
  };
}

/** Banner and EHLO of a plain upstream, the step every session test starts from. */
export const GREETING = `
  S: 220 mx.test ESMTP
  C: EHLO proxy.test
  S: 250-mx.test
  S: 250-PIPELINING
  S: 250-SIZE 10240000
  S: 250 8BITMIME
`;

/** For assert.rejects: an UpstreamRefusedError carrying this upstream reply, showing clients only ours. */
export const refusedWith = (code: number, text: string) => (error: unknown) => {
  assert.ok(error instanceof UpstreamRefusedError, String(error));
  assert.equal(error.upstreamReply.code, code);
  assert.equal(error.upstreamReply.text, text);
  assert.deepEqual(error.reply, replies.upstreamRefused, 'clients see our generic reply, not the upstream text');
  return true;
};
