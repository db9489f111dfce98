import { domainToASCII } from 'node:url';
import type { ParsedHeader } from 'mailauth/lib/tools.js';

export type FromDomain = { readonly domain: string } | { readonly unsigned: string };

/**
 * The domain of the header From, the one a receiver aligns DKIM with (DMARC): lowercase
 * A-labels, or why the message is not signed. Only a message with exactly one From field
 * holding one mailbox has such a domain; two From fields are how a signed message gets shown
 * with the wrong sender, and a mailbox list has no single owner.
 */
export function fromDomain(headers: readonly ParsedHeader[]): FromDomain {
  const fields = headers.filter((header) => header.key === 'from');
  if (fields.length === 0) return { unsigned: 'no From header field' };
  if (fields.length > 1) return { unsigned: 'more than one From header field' };
  const line = fields[0]!.line.toString('utf8');
  const mailboxes = splitMailboxes(withoutComments(line.slice(line.indexOf(':') + 1).replace(/\r?\n/g, '')));
  if (mailboxes.length !== 1) return { unsigned: mailboxes.length === 0 ? 'no address in From' : 'more than one address in From' };
  const angle = /<([^<>]*)>\s*$/.exec(mailboxes[0]!);
  const address = (angle ? angle[1]! : mailboxes[0]!).trim();
  const at = address.lastIndexOf('@');
  const domain = at === -1 ? '' : domainToASCII(address.slice(at + 1).trim().replace(/\.$/, ''));
  return domain ? { domain } : { unsigned: 'no domain in the From address' };
}

/** RFC 5322 comments (nested, with quoted pairs) outside quoted strings, dropped. */
function withoutComments(value: string): string {
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const char = value[i]!;
    if (char === '\\' && (quoted || depth > 0)) {
      if (depth === 0) out += char + (value[i + 1] ?? '');
      i++;
    } else if (char === '"' && depth === 0) {
      quoted = !quoted;
      out += char;
    } else if (char === '(' && !quoted) {
      depth++;
    } else if (char === ')' && !quoted && depth > 0) {
      depth--;
    } else if (depth === 0) {
      out += char;
    }
  }
  return out;
}

/** Splits at commas outside quoted strings and angle brackets; empty entries dropped. */
function splitMailboxes(value: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  let angle = false;
  for (let i = 0; i < value.length; i++) {
    const char = value[i]!;
    if (char === '\\' && quoted) {
      current += char + (value[i + 1] ?? '');
      i++;
      continue;
    }
    if (char === '"') quoted = !quoted;
    else if (!quoted && char === '<') angle = true;
    else if (!quoted && char === '>') angle = false;
    else if (!quoted && !angle && char === ',') {
      parts.push(current);
      current = '';
      continue;
    }
    current += char;
  }
  parts.push(current);
  return parts.map((part) => part.trim()).filter(Boolean);
}
