import http from 'node:http';
import { Transform, pipeline, type Readable } from 'node:stream';
import { EngineError, describeEndpoint, type Endpoint } from '../shared/engine-socket.js';
import { MAX_RESPONSE } from './protocol.js';

export type RspamdEndpoint = Endpoint;

/** A failed exchange. `unavailable`: no connection was made; `protocol`: anything after that. */
export class RspamdError extends EngineError {}

export const describe = describeEndpoint;

export interface Answer {
  readonly status: number;
  readonly body: Buffer;
  /** The Server header ("rspamd/3.4"). */
  readonly server: string | undefined;
}

/** Errors that mean no connection was made: the engine is not there. */
const NOT_THERE = new Set(['ECONNREFUSED', 'ENOENT', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EACCES']);

/**
 * One HTTP request to Rspamd's normal worker through `agent` (kept-alive connections: Rspamd 3.4
 * answers each with Connection: close, so each scan still opens one; later versions keep them).
 * The signal aborts the request and its socket at once; the message stream is destroyed
 * whenever the request ends, so an aborted scan never leaves a reader of the spool open.
 */
export function request(
  agent: http.Agent,
  endpoint: RspamdEndpoint,
  target: { readonly method: 'GET' | 'POST'; readonly path: string; readonly headers?: Record<string, string | string[]> },
  body: { readonly open: () => Readable; readonly length: number } | undefined,
  signal: AbortSignal,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const where = 'path' in endpoint ? { socketPath: endpoint.path } : { host: endpoint.host, port: endpoint.port };
    const req = http.request({ agent, ...where, method: target.method, path: target.path, headers: target.headers, signal });
    let stream: Readable | undefined;
    const fail = (error: Error) => {
      stream?.destroy();
      req.destroy();
      const code = (error as NodeJS.ErrnoException).code ?? '';
      if (error instanceof RspamdError) reject(error);
      else if (NOT_THERE.has(code)) reject(new RspamdError('unavailable', `cannot connect to rspamd at ${describe(endpoint)}: ${error.message}`, { cause: error }));
      else reject(new RspamdError('protocol', `rspamd at ${describe(endpoint)}: ${error.message}`, { cause: error }));
    };
    req.on('error', fail);
    req.on('close', () => stream?.destroy());
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE) fail(new RspamdError('protocol', `rspamd answer longer than ${MAX_RESPONSE} bytes`));
        else chunks.push(chunk);
      });
      res.on('error', fail);
      const { server } = res.headers;
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), server: typeof server === 'string' ? server : undefined }));
    });
    if (body === undefined) {
      req.end();
      return;
    }
    stream = body.open();
    pipeline(stream, exactly(body.length), req, (error) => {
      if (error) fail(error);
    });
  });
}

/** Passes `length` bytes on and fails otherwise: Rspamd must never wait for bytes that will not come, nor get more than announced. */
function exactly(length: number): Transform {
  let sent = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      sent += chunk.length;
      if (sent > length) done(new RspamdError('protocol', `message stream is longer than its size (${length} bytes)`));
      else done(null, chunk);
    },
    flush(done) {
      done(sent === length ? null : new RspamdError('protocol', `message stream gave ${sent} bytes, its size is ${length}`));
    },
  });
}
