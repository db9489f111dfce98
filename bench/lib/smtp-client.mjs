// The bench's own SMTP load client: N concurrent sessions send M messages in total, either a
// new connection per message or reusing one connection per session. For every message it
// records the time from the final dot (the last byte of DATA handed to the kernel) to the
// server's final reply, and counts the outcomes by reply class (2xx/4xx/5xx, or a network
// error). Run as a child process: `node smtp-client.mjs '<json options>'` prints one JSON line.
import net from 'node:net';
import { performance } from 'node:perf_hooks';

const WORDS = (
  'the of and to in is was for that with as on by at from his her an which are were be this ' +
  'report meeting quarterly budget review project schedule attached please find below regards ' +
  'customer invoice delivery order shipment warehouse office monday tuesday thursday friday ' +
  'team manager update proposal contract agreement payment account service support question'
).split(' ');

/** A dot-safe text body of about `size` bytes, CRLF lines of at most 76 characters. */
export function makeBody(size, seed = 1) {
  let x = seed >>> 0 || 1;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
  const lineBuf = [];
  const chunks = [];
  let total = 0;
  const CH = 1 << 20;
  let cur = Buffer.allocUnsafe(CH);
  let pos = 0;
  while (total < size) {
    lineBuf.length = 0;
    let len = 0;
    while (len < 64) {
      const w = WORDS[Math.floor(rnd() * WORDS.length)];
      lineBuf.push(w);
      len += w.length + 1;
    }
    const line = `${lineBuf.join(' ')}\r\n`;
    if (pos + line.length > CH) {
      chunks.push(cur.subarray(0, pos));
      cur = Buffer.allocUnsafe(CH);
      pos = 0;
    }
    pos += cur.write(line, pos, 'latin1');
    total += line.length;
  }
  chunks.push(cur.subarray(0, pos));
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

function header(i, from, to) {
  const id = `${process.pid}.${i}.${Date.now()}`;
  return Buffer.from(
    `From: Bench Sender <${from}>\r\nTo: <${to}>\r\nSubject: bench message ${i}\r\n` +
      `Date: ${new Date().toUTCString().replace('GMT', '+0000')}\r\nMessage-ID: <${id}@bench.example.org>\r\n` +
      'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n',
    'latin1',
  );
}

class Conn {
  constructor(socket) {
    this.socket = socket;
    this.buf = '';
    this.waiter = null;
    this.error = null;
    socket.setNoDelay(true);
    socket.setEncoding('latin1');
    socket.on('data', (d) => {
      this.buf += d;
      this.pump();
    });
    const fail = (e) => {
      this.error ??= e ?? new Error('connection closed');
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w.reject(this.error);
      }
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
  }

  pump() {
    if (!this.waiter) return;
    let start = 0;
    for (;;) {
      const nl = this.buf.indexOf('\n', start);
      if (nl < 0) return;
      const line = this.buf.slice(start, nl);
      start = nl + 1;
      if (line.length < 4 || line[3] !== '-') {
        const text = this.buf.slice(0, nl);
        this.buf = this.buf.slice(start);
        const w = this.waiter;
        this.waiter = null;
        w.resolve({ code: Number(line.slice(0, 3)), text: text.trim() });
        return;
      }
    }
  }

  reply() {
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.pump();
    });
  }

  async cmd(line) {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }

  static open(host, port, timeout) {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port });
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error('connect timeout'));
      }, timeout);
      s.once('connect', () => {
        clearTimeout(t);
        resolve(new Conn(s));
      });
      s.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
  }
}

class Outcome extends Error {
  constructor(kind, stage, text) {
    super(`${stage}: ${text}`);
    this.kind = kind;
    this.stage = stage;
  }
}

function expect(reply, want, stage) {
  if (Math.floor(reply.code / 100) === want) return reply;
  const cls = Math.floor(reply.code / 100);
  throw new Outcome(cls === 4 ? '4xx' : cls === 5 ? '5xx' : 'other', stage, reply.text);
}

export async function runLoad(o) {
  const opts = {
    host: '127.0.0.1',
    sessions: 20,
    messages: 100,
    size: 10240,
    reuse: false,
    timeoutMs: 60_000,
    replyTimeoutMs: 120_000,
    from: 'sender@example.org',
    to: 'rcpt@example.test',
    ehlo: 'bench-client.example.org',
    ...o,
  };
  const body = Buffer.concat([makeBody(opts.size, 7), Buffer.from('.\r\n')]);
  const counts = { '2xx': 0, '4xx': 0, '5xx': 0, other: 0, error: 0 };
  const failures = {};
  const dotMs = [];
  const dataMs = [];
  let next = 0;
  let aborted = false;
  const sockets = new Set();
  const t0 = performance.now();
  let tLast = t0;
  const deadline = setTimeout(() => {
    aborted = true;
    for (const s of sockets) s.destroy(new Error('bench deadline'));
  }, opts.timeoutMs);

  const withTimeout = (p) => {
    let t;
    return Promise.race([
      p,
      new Promise((_, reject) => {
        t = setTimeout(() => reject(new Error('reply timeout')), opts.replyTimeoutMs);
      }),
    ]).finally(() => clearTimeout(t));
  };

  async function connect() {
    const c = await Conn.open(opts.host, opts.port, 30_000);
    sockets.add(c.socket);
    c.socket.once('close', () => sockets.delete(c.socket));
    expect(await withTimeout(c.reply()), 2, 'banner');
    expect(await withTimeout(c.cmd(`EHLO ${opts.ehlo}`)), 2, 'ehlo');
    return c;
  }

  async function transaction(c, i) {
    expect(await withTimeout(c.cmd(`MAIL FROM:<${opts.from}>`)), 2, 'mail');
    expect(await withTimeout(c.cmd(`RCPT TO:<${opts.to}>`)), 2, 'rcpt');
    expect(await withTimeout(c.cmd('DATA')), 3, 'data');
    const tData = performance.now();
    let tDot = 0;
    const replyP = c.reply();
    c.socket.write(header(i, opts.from, opts.to));
    c.socket.write(body, () => {
      tDot = performance.now();
    });
    const final = await withTimeout(replyP);
    const tEnd = performance.now();
    expect(final, 2, 'dot');
    dotMs.push(tEnd - (tDot || tEnd));
    dataMs.push(tEnd - tData);
  }

  function record(e) {
    const kind = e instanceof Outcome ? e.kind : 'error';
    counts[kind] += 1;
    const key = String(e?.message ?? e).slice(0, 70);
    failures[key] = (failures[key] ?? 0) + 1;
  }

  async function quit(c) {
    try {
      c.socket.write('QUIT\r\n');
      await Promise.race([c.reply(), new Promise((r) => setTimeout(r, 1000))]);
    } catch {}
    c.socket.destroy();
  }

  async function worker() {
    let c = null;
    while (!aborted && next < opts.messages) {
      const i = next++;
      try {
        if (!c) c = await connect();
        await transaction(c, i);
        counts['2xx'] += 1;
        tLast = performance.now();
      } catch (e) {
        if (aborted) break;
        record(e);
        if (c) {
          await quit(c);
          c = null;
        }
      }
      if (c && !opts.reuse) {
        await quit(c);
        c = null;
      }
    }
    if (c) await quit(c);
  }

  await Promise.all(Array.from({ length: Math.min(opts.sessions, opts.messages) }, worker));
  clearTimeout(deadline);
  const elapsed = (tLast - t0) / 1000;
  const sorted = (a) => [...a].sort((x, y) => x - y);
  const pct = (a, p) => (a.length ? a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))] : null);
  const d = sorted(dotMs);
  const s = sorted(dataMs);
  return {
    sent: Object.values(counts).reduce((x, y) => x + y, 0),
    requested: opts.messages,
    counts,
    failures,
    aborted,
    elapsed,
    msgPerSec: elapsed > 0 ? counts['2xx'] / elapsed : 0,
    p50: pct(d, 50),
    p90: pct(d, 90),
    p99: pct(d, 99),
    max: d.length ? d[d.length - 1] : null,
    dataP50: pct(s, 50),
    dataMax: s.length ? s[s.length - 1] : null,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const options = JSON.parse(process.argv[2] ?? '{}');
  runLoad(options).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (e) => {
      process.stdout.write(`${JSON.stringify({ fatal: String(e?.stack ?? e) })}\n`);
      process.exit(1);
    },
  );
}
