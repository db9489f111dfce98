import { Readable } from 'node:stream';
import { z } from 'zod';
import type { ScannerFactory } from '../../src/scan/registry.js';
import type { ScanSession } from '../../src/scan/scan-session.js';
import type { Scanner } from '../../src/scan/scanner.js';
import { scanError, type Verdict } from '../../src/scan/verdict.js';
import type { SpooledMessage } from '../../src/spool/message.js';
import { clientHopLine, withPrefix } from '../shared/client-hop.js';
import { SpamdError, describe, request, type SpamdEndpoint } from './client.js';
import { PING, SpamdProtocolError, VERSION_PROBE, encodeRequest, isPong, parseVersion, symbolsVerdict } from './protocol.js';
import { endpointKeys, endpointOf, oneEndpoint } from '../shared/endpoint-options.js';
import { abortedScan } from '../shared/aborted-scan.js';

const options = z
  .strictObject({
    ...endpointKeys,
    /** Sent as `User:` so spamd applies that user's preferences. */
    user: z.string().regex(/^[\x21-\x7e]{1,255}$/, 'printable ASCII without spaces').optional(),
  })
  .refine(...oneEndpoint);

export type SpamassassinOptions = z.infer<typeof options>;

export class SpamassassinScanner implements Scanner {
  readonly type = 'spamassassin';
  readonly name: string;
  readonly #endpoint: SpamdEndpoint;
  readonly #user: string | undefined;

  constructor(name: string, options: SpamassassinOptions) {
    this.name = name;
    this.#endpoint = endpointOf(options, 783);
    this.#user = options.user;
  }

  /**
   * Scans what the stream gives (the fan-out hands over a truncated view of an oversize message),
   * after a Received line for the client's hop, so spamd sees the relay it came from.
   */
  async scan(message: SpooledMessage, signal: AbortSignal, session: ScanSession): Promise<Verdict> {
    const hop = clientHopLine(session);
    const length = hop.length + message.size;
    const head = encodeRequest('SYMBOLS', length, this.#user);
    try {
      const raw = await request(this.#endpoint, head, { open: () => withPrefix(hop, message.createReadStream()), length }, signal);
      return symbolsVerdict(raw);
    } catch (error) {
      if (signal.aborted) return abortedScan('spamd', signal);
      if (error instanceof SpamdError) return scanError(error.kind, error.message);
      // A spool read failure is ours, not spamd's: rejecting lets the fan-out fail closed.
      throw error;
    }
  }

  async ping(signal: AbortSignal): Promise<void> {
    const raw = await request(this.#endpoint, PING, undefined, signal);
    if (!isPong(raw)) throw new SpamdProtocolError(`spamd at ${describe(this.#endpoint)} answered PING with ${JSON.stringify(raw.toString('latin1'))}`);
  }

  /**
   * spamd 4 has no VERSION command and PONG names only the protocol, so this scans a tiny
   * message with HEADERS (one spamd child for ~40 ms) and reads X-Spam-Checker-Version.
   * Call it once and keep the answer.
   */
  async version(signal: AbortSignal): Promise<string> {
    const head = encodeRequest('HEADERS', VERSION_PROBE.length, this.#user);
    const probe = { open: () => Readable.from([VERSION_PROBE]), length: VERSION_PROBE.length };
    const version = parseVersion(await request(this.#endpoint, head, probe, signal));
    if (version === undefined) throw new SpamdProtocolError(`spamd at ${describe(this.#endpoint)} did not name its version (X-Spam-Checker-Version)`);
    return version;
  }
}

export const spamassassinScanner: ScannerFactory<SpamassassinOptions> = {
  type: 'spamassassin',
  category: 'antispam',
  options,
  // spamc skips messages over 500 KB; scanning the first 512 KiB keeps spamd's time bounded
  // and still judges the headers and the start of the body, where spam shows itself.
  defaults: { maxSize: 512 * 1024, onOversize: 'truncate' },
  create(options, context) {
    return new SpamassassinScanner(context.name, options);
  },
};
