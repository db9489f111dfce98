import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * bcryptjs is JavaScript: a check at cost 10 holds the event loop for ~55 ms and one at cost 12
 * for slices of ~100 ms (measured here), and every client of the process would wait through
 * them, inbound mail too. So bcrypt hashes are checked on a worker thread of their own, one
 * per process, started at the first check; scrypt runs in libuv's threadpool already.
 */
const SOURCE = `
const { parentPort } = require('node:worker_threads');
const bcrypt = require(${JSON.stringify(createRequire(import.meta.url).resolve('bcryptjs'))});
parentPort.on('message', ({ id, password, hash }) => parentPort.postMessage({ id, ok: bcrypt.compareSync(password, hash) }));
`;

type Pending = { resolve: (ok: boolean) => void; reject: (error: Error) => void };

let worker: Worker | undefined;
let nextId = 0;
const pending = new Map<number, Pending>();

function started(): Worker {
  if (worker) return worker;
  const thread = new Worker(SOURCE, { eval: true });
  thread.on('message', ({ id, ok }: { id: number; ok: boolean }) => {
    pending.get(id)?.resolve(ok);
    pending.delete(id);
    if (pending.size === 0) thread.unref();
  });
  // A thread that dies fails the checks it had; the next check starts a new one.
  const fail = (error: Error) => {
    if (worker === thread) worker = undefined;
    for (const entry of pending.values()) entry.reject(error);
    pending.clear();
  };
  thread.on('error', fail);
  thread.on('exit', (code) => fail(new Error(`bcrypt worker exited (${code})`)));
  worker = thread;
  return thread;
}

/** bcrypt.compare on the worker thread. */
export function bcryptCompare(password: string, hash: string): Promise<boolean> {
  const thread = started();
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    // Held only while a check is under way: an idle thread must not keep a stopping process alive.
    thread.ref();
    thread.postMessage({ id, password, hash });
  });
}
