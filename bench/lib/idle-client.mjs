// Holds `count` idle SMTP connections to host:port: opens them (at most `parallel` connects
// in flight), waits for each banner, prints {"ready":n,...} and holds them until its stdin
// closes (or `holdMs` passes), then closes them all and exits.
import net from 'node:net';

const o = { host: '127.0.0.1', count: 1000, parallel: 200, holdMs: 120_000, connectTimeoutMs: 30_000, ...JSON.parse(process.argv[2] ?? '{}') };
const sockets = [];
let ready = 0;
let failed = 0;
const errors = {};

function one() {
  return new Promise((resolve) => {
    const s = net.connect({ host: o.host, port: o.port });
    let buf = '';
    let done = false;
    const finish = (ok, why) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      if (ok) ready += 1;
      else {
        failed += 1;
        errors[why] = (errors[why] ?? 0) + 1;
        s.destroy();
      }
      resolve();
    };
    const t = setTimeout(() => finish(false, 'banner timeout'), o.connectTimeoutMs);
    s.setEncoding('latin1');
    s.on('data', (d) => {
      buf += d;
      if (/\n/.test(buf)) finish(buf.startsWith('220'), `banner ${buf.slice(0, 3)}`);
    });
    s.on('error', (e) => finish(false, e.code ?? e.message));
    s.on('close', () => finish(false, 'closed'));
    sockets.push(s);
  });
}

const t0 = Date.now();
let i = 0;
async function lane() {
  while (i < o.count) {
    i += 1;
    await one();
  }
}
await Promise.all(Array.from({ length: o.parallel }, lane));
process.stdout.write(`${JSON.stringify({ ready, failed, errors, seconds: (Date.now() - t0) / 1000 })}\n`);

const close = () => {
  for (const s of sockets) s.destroy();
  process.exit(0);
};
setTimeout(close, o.holdMs).unref();
process.stdin.on('data', () => {});
process.stdin.on('end', close);
process.stdin.on('close', close);
process.stdin.resume();
