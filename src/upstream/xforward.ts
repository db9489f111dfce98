import { COMMAND_LINE_LIMIT } from './xclient.js';
import { xtextEncode } from './xtext.js';

const VERB = 'XFORWARD';
const UNAVAILABLE = '[UNAVAILABLE]';

/**
 * The XFORWARD command lines (Postfix XFORWARD_README) that carry `attributes`: only names the
 * upstream offered after XFORWARD in its EHLO reply (case-insensitive, sent uppercased), values
 * xtext-encoded, packed into as few lines as fit the 512-byte limit, like Postfix's own smtp
 * client does. A value too long for a line of its own is sent as [UNAVAILABLE]. Unlike XCLIENT,
 * XFORWARD changes only what the upstream logs and writes into its Received header (never its
 * access decisions) and is answered with a plain 250, without a new greeting.
 */
export function xforwardCommands(attributes: Readonly<Record<string, string>>, offered: readonly string[]): string[] {
  const names = new Set(offered.map((name) => name.toUpperCase()));
  const room = COMMAND_LINE_LIMIT - VERB.length - 2;
  const lines: string[] = [];
  let current = '';
  for (const [key, value] of Object.entries(attributes)) {
    const name = key.toUpperCase();
    if (!names.has(name)) continue;
    let item = ` ${name}=${xtextEncode(value)}`;
    if (item.length > room) item = ` ${name}=${UNAVAILABLE}`;
    if (current && current.length + item.length > room) {
      lines.push(VERB + current);
      current = '';
    }
    current += item;
  }
  if (current) lines.push(VERB + current);
  return lines;
}
