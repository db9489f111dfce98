import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import type { DkimSettings } from './config.js';
import type { SigningKey } from './signature.js';

/** RFC 8301: verifiers ignore RSA keys under 1024 bits; 2048 is what dkim-keygen writes. */
const MIN_RSA_BITS = 1024;

/**
 * The configured keys by domain, read at start-up and on reload: an unreadable file or a key
 * that is neither RSA (1024 bits or more) nor Ed25519 stops the start (or the reload) naming
 * the entry.
 */
export function loadSigningKeys(entries: DkimSettings['keys']): ReadonlyMap<string, readonly SigningKey[]> {
  const byDomain = new Map<string, SigningKey[]>();
  for (const [index, { domain, selector, file }] of entries.entries()) {
    const where = `config: dkim.keys[${index}].file`;
    let key;
    try {
      key = createPrivateKey(readFileSync(file));
    } catch (error) {
      throw new ConfigError(`${where}: cannot read a private key from ${file}: ${(error as Error).message}`, { cause: error });
    }
    const type = key.asymmetricKeyType;
    if (type === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) {
      throw new ConfigError(`${where}: ${file} is an RSA key of ${key.asymmetricKeyDetails?.modulusLength} bits; verifiers ignore keys under ${MIN_RSA_BITS} (use 2048)`);
    }
    if (type !== 'rsa' && type !== 'ed25519') throw new ConfigError(`${where}: ${file} is an ${type} key; DKIM signs with RSA or Ed25519`);
    const list = byDomain.get(domain) ?? [];
    list.push({ domain, selector, algorithm: type === 'rsa' ? 'rsa-sha256' : 'ed25519-sha256', key });
    byDomain.set(domain, list);
  }
  return byDomain;
}
