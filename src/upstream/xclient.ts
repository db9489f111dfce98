import { attributeItem, attributeLines } from './attribute-lines.js';

const VERB = 'XCLIENT';
// Postfix decides whether the session may still use XCLIENT from its client's NAME and ADDR,
// which an XCLIENT command changes: once they name the real client, a further XCLIENT is
// refused ("550 5.7.0 Error: insufficient authorization"). So they travel together in the
// last command, and every command before it is still sent as the (authorized) proxy. LOGIN
// goes with them, so the login and the address it is trusted for are set in one step.
const AUTHORIZING = new Set(['NAME', 'ADDR', 'LOGIN']);

/**
 * The XCLIENT command lines that carry `attributes`: only names the upstream offered
 * (case-insensitive, sent uppercased), undefined values skipped, values xtext-encoded, in the
 * caller's order except that NAME and ADDR come last, in one line. Like Postfix's smtpd_proxy,
 * attributes go into as few lines as fit the 512-byte limit. A value too long for a line of its
 * own is sent as [UNAVAILABLE]: the upstream then treats it as unknown rather than rejecting an
 * over-long line.
 */
export function xclientCommands(attributes: Readonly<Record<string, string | undefined>>, offered: ReadonlySet<string>): string[] {
  const items: string[] = [];
  let last = '';
  for (const [key, value] of Object.entries(attributes)) {
    const name = key.toUpperCase();
    if (value === undefined || !offered.has(name)) continue;
    const item = attributeItem(VERB, name, value);
    if (AUTHORIZING.has(name)) last += item;
    else items.push(item);
  }
  if (last) items.push(last);
  return attributeLines(VERB, items);
}
