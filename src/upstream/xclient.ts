import { xtextEncode } from './xtext.js';

/** RFC 5321 4.5.3.1.4: a command line is at most 512 bytes, CRLF included. */
export const COMMAND_LINE_LIMIT = 512;

const VERB = 'XCLIENT';
// XCLIENT's own word for "unknown"; it is valid for every attribute.
const UNAVAILABLE = '[UNAVAILABLE]';
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
  const room = COMMAND_LINE_LIMIT - VERB.length - 2;
  const items: string[] = [];
  let last = '';
  for (const [key, value] of Object.entries(attributes)) {
    const name = key.toUpperCase();
    if (value === undefined || !offered.has(name)) continue;
    let item = ` ${name}=${xtextEncode(value)}`;
    if (item.length > room) item = ` ${name}=${UNAVAILABLE}`;
    if (AUTHORIZING.has(name)) last += item;
    else items.push(item);
  }
  if (last) items.push(last);
  const lines: string[] = [];
  let current = '';
  for (const item of items) {
    if (current && current.length + item.length > room) {
      lines.push(VERB + current);
      current = '';
    }
    current += item;
  }
  if (current) lines.push(VERB + current);
  return lines;
}
