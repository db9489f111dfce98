import { attributeItem, attributeLines } from './attribute-lines.js';

const VERB = 'XFORWARD';

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
  const items = Object.entries(attributes)
    .map(([key, value]) => [key.toUpperCase(), value] as const)
    .filter(([name]) => names.has(name))
    .map(([name, value]) => attributeItem(VERB, name, value));
  return attributeLines(VERB, items);
}
