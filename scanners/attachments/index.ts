/**
 * The `attachments` scanner: a content policy that bans parts by file name and declared type.
 * It reads the message structure only (walk.ts) and judges each part (rules.ts); it never sees
 * inside archives or documents, which is ClamAV's job.
 */
import { z } from 'zod';
import type { ScannerFactory } from '../../src/scan/registry.js';
import type { Scanner } from '../../src/scan/scanner.js';
import { clean, scanError, type Verdict } from '../../src/scan/verdict.js';
import type { SpooledMessage } from '../../src/spool/message.js';
import { compileRules, DEFAULT_BANNED, DEFAULT_BANNED_TYPES, judgePart, type Rules } from './rules.js';
import { walkParts } from './walk.js';

const extension = z
  .string()
  .trim()
  .regex(/^\.?[^.\s/\\]+$/, 'expected one extension such as "exe" or ".exe"');

const contentType = z
  .string()
  .trim()
  .regex(/^[\w!#$&^.+-]+\/[\w!#$&^.+-]+$/, 'expected a MIME type such as "application/x-msdownload"');

export const attachmentsOptions = z.strictObject({
  /** Extensions (case-insensitive, leading dot optional) that ban a file. Replaces the default. */
  banned: z.array(extension).default([...DEFAULT_BANNED]),
  /** Declared content types that ban a part whatever its name. Replaces the default. */
  bannedTypes: z.array(contentType).default([...DEFAULT_BANNED_TYPES]),
  /** Ban "invoice.pdf.exe"-style names, also when the last extension is not in `banned`. */
  doubleExtensions: z.boolean().default(true),
});

export type AttachmentsOptions = z.output<typeof attachmentsOptions>;

export async function scanAttachments(
  message: SpooledMessage,
  signal: AbortSignal,
  rules: Rules,
): Promise<Verdict> {
  if (signal.aborted) return scanError('timeout', 'aborted before the scan started');
  const found = new Map<string, string>();
  try {
    await walkParts(
      message.createReadStream(),
      (part) => {
        const finding = judgePart(part, rules);
        if (finding !== undefined && !found.has(finding.item)) found.set(finding.item, finding.reason);
      },
      signal,
    );
  } catch (error) {
    if (signal.aborted) return scanError('timeout', 'aborted');
    // Fail closed: a structure we cannot read may hide what we look for.
    return scanError('protocol', `cannot parse MIME structure: ${error instanceof Error ? error.message : String(error)}`);
  }
  const [first] = found.values();
  if (first === undefined) return clean;
  const more = found.size - 1;
  return {
    kind: 'banned',
    reason: more > 0 ? `${first} (and ${more} more)` : first,
    items: [...found.keys()],
  };
}

export const attachmentsScanner: ScannerFactory<AttachmentsOptions> = {
  type: 'attachments',
  category: 'content',
  options: attachmentsOptions,
  // Memory stays bounded whatever the size, and skipping large messages would let an
  // executable through behind enough padding.
  defaults: { maxSize: 0 },
  create(options, context): Scanner {
    const rules = compileRules(options);
    return {
      name: context.name,
      type: 'attachments',
      scan: (message, signal) => scanAttachments(message, signal, rules),
    };
  },
};
