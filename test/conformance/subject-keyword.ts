/**
 * A third-party scanner as the README's "Writing a scanner" example would have it: one module
 * that exports `scanner` (a ScannerFactory), loaded with `plugins: [./subject-keyword.ts]` and
 * used as `scanners: [{ type: subject-keyword, words: [lottery] }]`. It bans a message whose
 * Subject contains one of the configured words. It reads only the header, from its own stream,
 * and lets go of the stream as soon as it knows, or when the signal aborts. It is written for the
 * contract before scanners got the session (scan(message, signal)), and passes the kit unchanged.
 */
import { z } from 'zod';
import type { ScannerFactory } from '../../src/scan/registry.js';
import type { Scanner } from '../../src/scan/scanner.js';
import { clean, scanError, type Verdict } from '../../src/scan/verdict.js';
import type { SpooledMessage } from '../../src/spool/message.js';

const options = z.strictObject({
  /** Words (case-insensitive) that ban a message when its Subject contains them. */
  words: z.array(z.string().min(1)).min(1),
});

type Options = z.output<typeof options>;

/** A header section larger than this is not a header we judge: fail closed. */
const MAX_HEADER = 256 * 1024;

async function readHeader(message: SpooledMessage, signal: AbortSignal): Promise<string> {
  const stream = message.createReadStream();
  const onAbort = () => stream.destroy();
  signal.addEventListener('abort', onAbort, { once: true });
  let head = '';
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end !== -1) return head.slice(0, end + 2);
      if (head.length > MAX_HEADER) throw new Error(`header over ${MAX_HEADER} bytes`);
    }
    return head;
  } finally {
    signal.removeEventListener('abort', onAbort);
    stream.destroy();
  }
}

export const scanner: ScannerFactory<Options> = {
  type: 'subject-keyword',
  category: 'content',
  options,
  create({ words }, context): Scanner {
    const lowered = words.map((word) => word.toLowerCase());
    return {
      name: context.name,
      type: 'subject-keyword',
      async scan(message, signal): Promise<Verdict> {
        let head: string;
        try {
          head = await readHeader(message, signal);
        } catch (error) {
          if (signal.aborted) return scanError('timeout', 'aborted');
          return scanError('protocol', (error as Error).message);
        }
        const subject = /^subject:(.*(?:\r\n[ \t].*)*)/im.exec(head)?.[1]?.replace(/\r\n/g, '').toLowerCase() ?? '';
        const hit = lowered.find((word) => subject.includes(word));
        return hit === undefined ? clean : { kind: 'banned', reason: `subject contains "${hit}"`, items: [hit] };
      },
    };
  },
};

export default scanner;
