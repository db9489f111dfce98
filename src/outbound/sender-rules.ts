import type { OutboundSettings } from './config.js';

/**
 * Which envelope senders a login may use (Postfix's smtpd_sender_login_maps with
 * reject_sender_login_mismatch, in the other direction: login -> senders). Pure.
 *
 * Compared case-blind. The null sender (a bounce or a read receipt the user's client sends)
 * belongs to everyone, as Postfix does not check it either.
 */
export class SenderRules {
  private readonly allowed: ReadonlyMap<string, readonly string[]>;

  constructor(private readonly settings: OutboundSettings['senders']) {
    this.allowed = new Map(Object.entries(settings.allowed).map(([login, patterns]) => [login.toLowerCase(), patterns]));
  }

  allows(login: string, sender: string): boolean {
    if (sender === '') return true;
    const address = sender.toLowerCase();
    const patterns = this.allowed.get(login.toLowerCase()) ?? this.defaultPatterns(login.toLowerCase());
    return patterns.some((pattern) => matches(pattern, address));
  }

  /** Without an entry: per `default`; a login that is no address owns no domain. */
  private defaultPatterns(login: string): readonly string[] {
    const { default: rule } = this.settings;
    if (rule === 'any') return ['*'];
    const domain = domainOf(login);
    if (domain === undefined) return [];
    return rule === 'login-address' ? [login] : [domain];
  }
}

/** `*`, an address, or a domain (with or without its `@`); patterns are lower case already. */
function matches(pattern: string, address: string): boolean {
  if (pattern === '*') return true;
  if (pattern.includes('@') && !pattern.startsWith('@')) return pattern === address;
  return domainOf(address) === pattern.replace(/^@/, '');
}

function domainOf(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  return at > 0 && at < address.length - 1 ? address.slice(at + 1) : undefined;
}
