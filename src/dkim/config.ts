import { domainToASCII } from 'node:url';
import { z } from 'zod';
import { addressRange } from '../screen/address-ranges.js';

/** RFC 5322 field names: printable ASCII but the colon. */
const fieldName = z.string().regex(/^[!-9;-~]+$/, 'a header field name');

/** RFC 6376 3.1 selectors: labels, dot-separated. */
export const selector = z.string().regex(/^[A-Za-z0-9](?:[A-Za-z0-9_-]*)(?:\.[A-Za-z0-9][A-Za-z0-9_-]*)*$/, 'a selector: letters, digits, -, _ and dots');

/** Stored as lowercase A-labels, as the From domain is compared. */
export const domain = z.string().transform((text, ctx) => {
  const ascii = domainToASCII(text.trim().replace(/\.$/, ''));
  if (!ascii.includes('.')) {
    ctx.addIssue({ code: 'custom', message: `not a domain name: ${JSON.stringify(text)}` });
    return z.NEVER;
  }
  return ascii;
});

export const DEFAULT_SIGNED_HEADERS = ['From', 'Subject', 'Date', 'To', 'Cc', 'Message-ID'];

/**
 * `dkim:` in the config: absent, nothing is signed. Mail of authenticated sessions and of
 * `networks` is signed with every key of its header From domain (RSA and Ed25519 alike);
 * a message whose From domain has no key goes out unsigned.
 */
export const dkimSchema = z
  .strictObject({
    keys: z
      .array(
        z.strictObject({
          domain,
          selector,
          /** A PEM private key (PKCS#8 or PKCS#1), RSA or Ed25519, as dkim-keygen writes it. */
          file: z.string().min(1),
        }),
      )
      .min(1),
    /** Clients whose mail is signed without AUTH: your own servers, applications, the LAN. */
    networks: z.array(addressRange).default([]),
    /** Signed where present; From must be one (RFC 6376 5.4). */
    headers: z.array(fieldName).min(1).default(DEFAULT_SIGNED_HEADERS),
    /** Signed once more than present, so none can be added after signing; each must be in `headers`. */
    oversign: z.array(fieldName).default(['From']),
    /**
     * A logged-in user's mail is signed only when its header From domain is the envelope
     * sender's, which the outbound policy ties to the login (Rspamd's allow_hdrfrom_mismatch):
     * else any user could send as any domain we have a key for. Bounces (MAIL FROM:<>) pass.
     */
    matchSender: z.boolean().default(true),
  })
  .superRefine((settings, ctx) => {
    const signed = new Set(settings.headers.map((name) => name.toLowerCase()));
    if (!signed.has('from')) ctx.addIssue({ code: 'custom', path: ['headers'], message: 'must include From (RFC 6376 5.4)' });
    for (const [index, name] of settings.oversign.entries()) {
      if (!signed.has(name.toLowerCase())) ctx.addIssue({ code: 'custom', path: ['oversign', index], message: `${name} is not in dkim.headers` });
    }
    const seen = new Set<string>();
    for (const [index, key] of settings.keys.entries()) {
      const name = `${key.selector}._domainkey.${key.domain}`.toLowerCase();
      if (seen.has(name)) ctx.addIssue({ code: 'custom', path: ['keys', index], message: `${name} is configured twice` });
      seen.add(name);
    }
  });

export type DkimSettings = z.output<typeof dkimSchema>;
