import { xtextEncode } from './xtext.js';

/** RFC 5321 4.5.3.1.4: a command line is at most 512 bytes, CRLF included. */
export const COMMAND_LINE_LIMIT = 512;

// XCLIENT's and XFORWARD's word for "unknown"; it is valid for every attribute.
const UNAVAILABLE = '[UNAVAILABLE]';

/**
 * One ` NAME=value` item of an XCLIENT or XFORWARD line, the value xtext-encoded. A value too
 * long for a line of its own is sent as [UNAVAILABLE]: the upstream then treats it as unknown
 * rather than rejecting an over-long line.
 */
export function attributeItem(verb: string, name: string, value: string): string {
  const item = ` ${name}=${xtextEncode(value)}`;
  return item.length > roomAfter(verb) ? ` ${name}=${UNAVAILABLE}` : item;
}

/** Items packed in order into as few command lines as fit the limit, as Postfix's own clients do. */
export function attributeLines(verb: string, items: readonly string[]): string[] {
  const room = roomAfter(verb);
  const lines: string[] = [];
  let current = '';
  for (const item of items) {
    if (current && current.length + item.length > room) {
      lines.push(verb + current);
      current = '';
    }
    current += item;
  }
  if (current) lines.push(verb + current);
  return lines;
}

function roomAfter(verb: string): number {
  return COMMAND_LINE_LIMIT - verb.length - 2;
}
