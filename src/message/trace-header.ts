import { isIPv6 } from 'node:net';
import { unmapIPv4 } from '../screen/ip-address.js';
import { rfc5322Date } from './date.js';

/** What our Received header says about one client hop. */
export interface TraceFacts {
  /** The name the client gave in EHLO or HELO (false: none). */
  readonly helo: string | false;
  /** The client's forward-confirmed reverse name; undefined is written "unknown", as Postfix does. */
  readonly name: string | undefined;
  readonly address: string;
  readonly ehlo: boolean;
  /** The transaction used SMTPUTF8 (MAIL ... SMTPUTF8); absent: it did not. */
  readonly utf8?: boolean;
  readonly tls: { readonly version: string; readonly cipher: string } | undefined;
  readonly authenticated: boolean;
  /** Our session id: the `cid` of every log line about this client. */
  readonly id: string;
  readonly recipients: readonly string[];
}

const DOMAIN = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const ADDRESS_LITERAL = /^\[(?:IPv6:)?[0-9A-Fa-f:.]+\]$/i;
/** What a path may hold to be written after "for" without breaking the header's grammar (";" starts the date). */
const PLAIN_PATH = /^[\x21-\x7e]+$/;
/** With SMTPUTF8 the header may carry UTF-8, so an internationalized address may be named too. */
const UTF8_PATH = /^[\x21-\x7e\u00a0-\u{10ffff}]+$/u;
const PATH_BREAKERS = /[;()<>\\"]/;

/**
 * Our own trace header, RFC 5321 section 4.4's time-stamp line, for an upstream that did not
 * take the client's identity (XCLIENT/XFORWARD) and so would name only the proxy:
 *
 *     Received: from helo.example (name.example [192.0.2.1])
 *             by mx.example.com (smtp-scan-proxy) with ESMTPS (TLSv1.3 TLS_AES_256_GCM_SHA384)
 *             id 1a2b3c; Mon, 30 Nov 2026 05:44:18 +0000
 *
 * HELO is the client's word: written as it is only when it is a domain or address literal, else
 * the address literal stands in and the HELO goes into the comment as `helo=` with anything that
 * could end the comment or the field replaced by "?". "for <rcpt>" only with one recipient (as
 * Postfix), so a copy never shows its other recipients. The protocol is RFC 3848's (ESMTPS,
 * ESMTPSA) or, for an SMTPUTF8 transaction, RFC 6531's (UTF8SMTPS, ...), as Postfix writes them.
 */
export function receivedHeader(facts: TraceFacts, byHost: string, date: Date): [string, string] {
  const literal = addressLiteral(facts.address);
  const heloOk = facts.helo !== false && (DOMAIN.test(facts.helo) || ADDRESS_LITERAL.test(facts.helo));
  const heloComment = facts.helo !== false && !heloOk ? ` helo=${sanitized(facts.helo)}` : '';
  const from = `from ${heloOk ? (facts.helo as string) : literal} (${facts.name ?? 'unknown'} ${literal}${heloComment})`;
  const protocol = facts.ehlo ? `${facts.utf8 ? 'UTF8SMTP' : 'ESMTP'}${facts.tls ? 'S' : ''}${facts.authenticated ? 'A' : ''}` : 'SMTP';
  const tls = facts.tls ? ` (${sanitized(facts.tls.version)} ${sanitized(facts.tls.cipher)})` : '';
  const by = `by ${byHost} (smtp-scan-proxy) with ${protocol}${tls}`;
  const recipient = facts.recipients.length === 1 ? facts.recipients[0]! : undefined;
  const nameable = recipient !== undefined && (facts.utf8 ? UTF8_PATH : PLAIN_PATH).test(recipient) && !PATH_BREAKERS.test(recipient);
  const forPath = nameable ? `\r\n\tfor <${recipient}>` : '';
  return ['Received', `${from}\r\n\t${by}\r\n\tid ${facts.id}${forPath}; ${rfc5322Date(date)}`];
}

/** RFC 5321's address literal: [192.0.2.1], [IPv6:2001:db8::1]; a v4-mapped address as the IPv4 one it is. */
function addressLiteral(address: string): string {
  const plain = unmapIPv4(address);
  return isIPv6(plain) ? `[IPv6:${plain}]` : `[${plain}]`;
}

function sanitized(text: string): string {
  return text.replace(/[^\x21-\x7e]|[()\\;]/g, '?');
}
