import { z } from 'zod';
import type { ScannerFactory } from '../../src/scan/registry.js';
import type { Scanner } from '../../src/scan/scanner.js';
import { scanError, type Verdict } from '../../src/scan/verdict.js';
import type { SpooledMessage } from '../../src/spool/message.js';
import { ClamdError, command, describe, instream, type ClamdEndpoint } from './client.js';
import { PING, VERSION, isPong, parseScanReply, parseVersion } from './protocol.js';
import { endpointKeys, endpointOf, oneEndpoint } from '../shared/endpoint-options.js';
import { abortedScan } from '../shared/aborted-scan.js';

const options = z
  .strictObject({
    ...endpointKeys,
    /** Upper bound of one INSTREAM chunk; clamd accepts any size up to StreamMaxLength. */
    chunkSize: z.number().int().min(1).max(16 * 1024 * 1024).default(64 * 1024),
  })
  .refine(...oneEndpoint);

export type ClamavOptions = z.infer<typeof options>;

export class ClamavScanner implements Scanner {
  readonly type = 'clamav';
  readonly name: string;
  readonly #endpoint: ClamdEndpoint;
  readonly #chunkSize: number;

  constructor(name: string, options: ClamavOptions) {
    this.name = name;
    this.#endpoint = endpointOf(options, 3310);
    this.#chunkSize = options.chunkSize;
  }

  async scan(message: SpooledMessage, signal: AbortSignal): Promise<Verdict> {
    try {
      const reply = await instream(this.#endpoint, () => message.createReadStream(), this.#chunkSize, signal);
      return parseScanReply(reply);
    } catch (error) {
      if (signal.aborted) return abortedScan('clamd', signal);
      if (error instanceof ClamdError) return scanError(error.kind, error.message);
      // A spool read failure is ours, not clamd's: rejecting lets the fan-out fail closed.
      throw error;
    }
  }

  async ping(signal: AbortSignal): Promise<void> {
    const reply = await command(this.#endpoint, PING, signal);
    if (!isPong(reply)) throw new ClamdError('protocol', `clamd at ${describe(this.#endpoint)} answered PING with ${JSON.stringify(reply)}`);
  }

  async version(signal: AbortSignal): Promise<string> {
    const reply = await command(this.#endpoint, VERSION, signal);
    const version = parseVersion(reply);
    if (version === undefined) throw new ClamdError('protocol', `clamd at ${describe(this.#endpoint)} answered VERSION with ${JSON.stringify(reply)}`);
    return version;
  }
}

export const clamavScanner: ScannerFactory<ClamavOptions> = {
  type: 'clamav',
  category: 'antivirus',
  options,
  create(options, context) {
    return new ClamavScanner(context.name, options);
  },
};
