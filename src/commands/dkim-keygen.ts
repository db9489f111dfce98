import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { domain as domainSchema, selector as selectorSchema } from '../dkim/config.js';
import { dnsRecordLine, dnsTxtValue, generateDkimKey, type KeyAlgorithm } from '../dkim/keygen.js';
import { UsageError } from './usage.js';

export interface KeygenRequest {
  readonly domain: string;
  readonly selector: string;
  readonly algorithm: KeyAlgorithm;
  /** Where the key file goes; default the current directory. */
  readonly dir: string;
}

/**
 * `dkim-keygen DOMAIN SELECTOR [--ed25519] [--dir D]`: writes DIR/DOMAIN.SELECTOR.key (mode 600,
 * never over an existing file) and prints the TXT record to publish on standard output, alone,
 * so it can be piped into a zone; what to put in the config goes to standard error.
 */
export async function dkimKeygen(request: KeygenRequest, out: (line: string) => void, note: (line: string) => void): Promise<number> {
  const domain = domainSchema.safeParse(request.domain);
  if (!domain.success) throw new UsageError(`not a domain name: '${request.domain}'`);
  if (!selectorSchema.safeParse(request.selector).success) throw new UsageError(`not a selector: '${request.selector}' (letters, digits, - and _, dot-separated)`);
  const { privateKeyPem, publicKey } = generateDkimKey(request.algorithm);
  const file = path.resolve(request.dir, `${domain.data}.${request.selector}.key`);
  try {
    await writeFile(file, privateKeyPem, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    note(`dkim-keygen: cannot write ${file}: ${code === 'EEXIST' ? 'it exists already (a key is never overwritten)' : message}`);
    return 1;
  }
  out(dnsRecordLine(domain.data, request.selector, dnsTxtValue(request.algorithm, publicKey)));
  note(`wrote ${file} (${request.algorithm === 'rsa' ? 'RSA 2048' : 'Ed25519'}, mode 600): make it readable by the proxy's user only`);
  note('publish the TXT record above, then add to the config:');
  note(`dkim:\n  keys:\n    - { domain: ${domain.data}, selector: ${request.selector}, file: ${file} }`);
  return 0;
}
