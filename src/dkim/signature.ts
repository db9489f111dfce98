import { createHash, sign, type KeyObject } from 'node:crypto';
import { generateCanonicalizedHeader } from 'mailauth/lib/dkim/header/index.js';
import { formatSignatureHeaderLine, getSigningHeaderLines, type ParsedHeader } from 'mailauth/lib/tools.js';

export interface SigningKey {
  /** The d= domain, lowercase ASCII (A-labels). */
  readonly domain: string;
  readonly selector: string;
  readonly algorithm: 'rsa-sha256' | 'ed25519-sha256';
  readonly key: KeyObject;
}

export interface SignatureOptions {
  /** Header fields signed where present (every instance). */
  readonly headers: readonly string[];
  /** Of those, the ones signed once more than they occur, so none can be added after signing. */
  readonly oversign: readonly string[];
  /** The t= of the signature. */
  readonly time: Date;
}

/** Both algorithms hash the relaxed body with SHA-256, so one body hash serves every key. */
export const CANONICALIZATION = 'relaxed/relaxed';

/**
 * The DKIM-Signature fields (RFC 6376; Ed25519 per RFC 8463) for a message whose header block
 * (parsed by mailauth) and relaxed SHA-256 body hash are known, one per key, each ending in CRLF.
 * The present instances are chosen as mailauth's own signer does; each oversigned name is then
 * listed once more in h=, an instance a verifier finds missing and hashes as nothing (RFC 6376
 * 5.4.2), so a field of that name added later breaks the signature.
 */
export function dkimSignatures(headers: readonly ParsedHeader[], bodyHash: string, keys: readonly SigningKey[], options: SignatureOptions): Buffer {
  const present = getSigningHeaderLines(headers, options.headers.join(':'));
  const extra = options.oversign.map((name) => headers.find((header) => header.key === name.toLowerCase())?.casedKey ?? name);
  const lines = { keys: [present.keys, ...extra].filter(Boolean).join(': '), headers: present.headers };
  const fields = keys.map(({ domain, selector, algorithm, key }) => {
    const { canonicalizedHeader, dkimHeaderOpts } = generateCanonicalizedHeader('DKIM', lines, {
      signingDomain: domain,
      selector,
      algorithm,
      canonicalization: CANONICALIZATION,
      bodyHash,
      signTime: options.time,
    });
    // RFC 8463: Ed25519 signs the SHA-256 hash of the header data, RSA the data itself.
    const signature = algorithm === 'rsa-sha256'
      ? sign('sha256', canonicalizedHeader, key)
      : sign(null, createHash('sha256').update(canonicalizedHeader).digest(), key);
    return formatSignatureHeaderLine('DKIM', { ...dkimHeaderOpts, b: signature.toString('base64') }, true);
  });
  return Buffer.from(fields.map((field) => `${field}\r\n`).join(''), 'latin1');
}
