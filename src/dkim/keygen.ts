import { generateKeyPairSync, type KeyObject } from 'node:crypto';

export type KeyAlgorithm = 'rsa' | 'ed25519';

/** A new signing key: RSA 2048 (what every verifier takes) or Ed25519 (RFC 8463). */
export function generateDkimKey(algorithm: KeyAlgorithm): { privateKeyPem: string; publicKey: KeyObject } {
  const pair = algorithm === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
  return { privateKeyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey: pair.publicKey };
}

/**
 * The TXT record's value (RFC 6376 3.6.1): RSA publishes the DER SubjectPublicKeyInfo, Ed25519
 * the bare 32-byte key (RFC 8463 4.2), both in base64.
 */
export function dnsTxtValue(algorithm: KeyAlgorithm, publicKey: KeyObject): string {
  const p = algorithm === 'rsa'
    ? publicKey.export({ type: 'spki', format: 'der' }).toString('base64')
    : Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url').toString('base64');
  return `v=DKIM1; k=${algorithm}; p=${p}`;
}

/**
 * The record as a zone file line (BIND, NSD, unbound's local-data): a TXT string holds at most
 * 255 bytes, so a 2048-bit key's value is split into several, which resolvers join again.
 */
export function dnsRecordLine(domain: string, selector: string, value: string): string {
  const strings: string[] = [];
  for (let at = 0; at < value.length; at += 255) strings.push(`"${value.slice(at, at + 255)}"`);
  return `${selector}._domainkey.${domain}. 3600 IN TXT ${strings.join(' ')}`;
}
