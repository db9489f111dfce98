import http from 'node:http';
import { z } from 'zod';
import type { ScannerFactory } from '../../src/scan/registry.js';
import type { ScanSession } from '../../src/scan/scan-session.js';
import type { Scanner } from '../../src/scan/scanner.js';
import { scanError, type Verdict } from '../../src/scan/verdict.js';
import type { SpooledMessage } from '../../src/spool/message.js';
import { RspamdError, describe, request, type RspamdEndpoint } from './client.js';
import { checkVerdict, parseVersion, requestHeaders } from './protocol.js';
import { endpointKeys, endpointOf, oneEndpoint } from '../shared/endpoint-options.js';
import { abortedScan } from '../shared/aborted-scan.js';

const options = z.strictObject(endpointKeys).refine(...oneEndpoint);

export type RspamdOptions = z.infer<typeof options>;

export class RspamdScanner implements Scanner {
  readonly type = 'rspamd';
  readonly name: string;
  readonly #endpoint: RspamdEndpoint;
  readonly #agent = new http.Agent({ keepAlive: true });

  constructor(name: string, options: RspamdOptions) {
    this.name = name;
    this.#endpoint = endpointOf(options, 11333);
  }

  /** The message (or the fan-out's truncated view of it) with the session as Rspamd's headers. */
  async scan(message: SpooledMessage, signal: AbortSignal, session: ScanSession): Promise<Verdict> {
    try {
      const target = { method: 'POST', path: '/checkv2', headers: requestHeaders(session, message.size) } as const;
      const answer = await request(this.#agent, this.#endpoint, target, { open: () => message.createReadStream(), length: message.size }, signal);
      return checkVerdict(answer.status, answer.body);
    } catch (error) {
      if (signal.aborted) return abortedScan('rspamd', signal);
      if (error instanceof RspamdError) return scanError(error.kind, error.message);
      throw error;
    }
  }

  async ping(signal: AbortSignal): Promise<void> {
    const answer = await request(this.#agent, this.#endpoint, { method: 'GET', path: '/ping' }, undefined, signal);
    const text = answer.body.toString('latin1').trim();
    if (answer.status !== 200 || text !== 'pong') {
      throw new RspamdError('protocol', `rspamd at ${describe(this.#endpoint)} answered /ping with ${answer.status} ${JSON.stringify(text.slice(0, 80))}`);
    }
  }

  /** Rspamd names itself in the Server header of every answer; /ping is the cheapest. */
  async version(signal: AbortSignal): Promise<string> {
    const answer = await request(this.#agent, this.#endpoint, { method: 'GET', path: '/ping' }, undefined, signal);
    const version = parseVersion(answer.server);
    if (version === undefined) throw new RspamdError('protocol', `rspamd at ${describe(this.#endpoint)} did not name its version (Server: ${answer.server ?? 'absent'})`);
    return version;
  }

  async close(): Promise<void> {
    this.#agent.destroy();
  }
}

export const rspamdScanner: ScannerFactory<RspamdOptions> = {
  type: 'rspamd',
  category: 'antispam',
  options,
  // Thresholds as Rspamd's stock actions (add_header 6, reject 15), so its own action and our
  // thresholds agree until an admin changes one; the stricter wins. Large messages are cut as
  // for spamassassin: spam shows itself in the headers and the start of the body.
  defaults: { maxSize: 512 * 1024, onOversize: 'truncate', rejectScore: 15, tagScore: 6 },
  create(options, context) {
    return new RspamdScanner(context.name, options);
  },
};
