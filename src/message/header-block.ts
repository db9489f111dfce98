import type { HeaderEdits } from '../policy/decision.js';

const CRLF = Buffer.from('\r\n');
/** The sender chooses these names: a log line gets a few, never a megabyte of them. */
const REPORTED_NAMES = 20;
const REPORTED_NAME_LENGTH = 100;

/**
 * Applies header edits to a message's header block (CRLF line endings, without the blank line
 * that ends it). Untouched fields keep their exact bytes; only the removed ones go and the added
 * ones come first. The name of each field removed goes into `removed`, as the sender wrote it.
 * Pure but for `removed`, so it is tested on tables.
 */
export function editHeaderBlock(block: Buffer, edits: HeaderEdits, removed?: Set<string>): Buffer {
  const removes = removalTest(edits.remove);
  const parts: Buffer[] = edits.add.map(([name, value]) => Buffer.from(`${name}: ${value}\r\n`, 'utf8'));
  let keep = true;
  let start = 0;
  while (start < block.length) {
    let end = block.indexOf(CRLF, start);
    end = end === -1 ? block.length : end + 2;
    const line = block.subarray(start, end);
    const continuation = line[0] === 0x20 || line[0] === 0x09;
    if (!continuation) {
      const name = fieldName(line);
      keep = !removes(name);
      if (!keep && removed && removed.size < REPORTED_NAMES) removed.add(name.slice(0, REPORTED_NAME_LENGTH));
    }
    if (keep) parts.push(line);
    start = end;
  }
  const result = Buffer.concat(parts);
  // The block's last line may lack its CRLF when the message has no body and no final newline.
  return result.length > 0 && !result.subarray(-2).equals(CRLF) ? Buffer.concat([result, CRLF]) : result;
}

/**
 * Names match case-insensitively; "*" anywhere stands for any run of characters, so one pattern
 * covers a family whose varying part is in the middle ("X-MS-Exchange-*-AntiSpam-*").
 */
function removalTest(names: readonly string[]): (field: string) => boolean {
  if (names.length === 0) return () => false;
  const key = names.join('\n');
  const pattern = patterns.get(key) ?? compile(key, names);
  return (field) => pattern.test(field);
}

/**
 * The lists come from the config and the policy's fixed prefixes, so a handful of them repeat
 * for every message: each is compiled once, not once a message (the RegExp compile was a third
 * of the header pass's time, profiled). Bounded in case a caller ever builds lists from message content.
 */
const patterns = new Map<string, RegExp>();
const PATTERNS_KEPT = 32;

function compile(key: string, names: readonly string[]): RegExp {
  const glob = (name: string) => name.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  const pattern = new RegExp(`^(?:${names.map(glob).join('|')})$`, 'i');
  if (patterns.size >= PATTERNS_KEPT) patterns.clear();
  patterns.set(key, pattern);
  return pattern;
}

function fieldName(line: Buffer): string {
  const colon = line.indexOf(0x3a);
  return (colon === -1 ? '' : line.toString('latin1', 0, colon)).trim();
}

/**
 * Where the header block ends in the first bytes of a message: the offset just past the CRLF of
 * the last header line (the blank line follows), or undefined when `head` holds no blank line.
 * A message that starts with a blank line has an empty header block (offset 0).
 */
export function headerBlockEnd(head: Buffer): number | undefined {
  if (head[0] === 0x0d && head[1] === 0x0a) return 0;
  const index = head.indexOf('\r\n\r\n');
  return index === -1 ? undefined : index + 2;
}
