import { createHash } from 'node:crypto';

/**
 * The clamd of the container suite: the image's own clamd binary with the private signature
 * database that scripts/lib/clamd.sh gives the native clamd (two signatures, both named
 * Eicar-Test-Signature), so both environments report the same name. Kept beside the scripts'
 * version on purpose: the container must not depend on a run directory of the host.
 */

// The 68-byte EICAR test file, as hex so that no scanner flags this source file.
const EICAR_HEX =
  '58354f2150254041505b345c505a58353428505e2937434329377d2445494341522d5354414e444152442d414e544956495255532d544553542d46494c452124482b482a';
export const EICAR_NAME = 'Eicar-Test-Signature';

/** Where the files go inside the container. */
export const CLAMD_DIR = '/ssp-clamd';

export interface ClamdFile {
  readonly name: string;
  readonly content: string;
}

/** The database: a body signature (finds EICAR anywhere) and a sha256 hash of the exact file. */
export function clamdDatabase(): ClamdFile[] {
  const sha256 = createHash('sha256').update(Buffer.from(EICAR_HEX, 'hex')).digest('hex');
  return [
    { name: 'ssp-eicar.ndb', content: `${EICAR_NAME}:0:*:${EICAR_HEX}\n` },
    { name: 'ssp-eicar.hsb', content: `${sha256}:68:${EICAR_NAME}:73\n` },
  ];
}

/** clamd.conf: TCP only, in the foreground, the settings of scripts/templates/clamd.conf. */
export function clamdConfig(databaseDirectory: string, port = 3310): string {
  return [
    'Foreground yes',
    'LogTime yes',
    `DatabaseDirectory ${databaseDirectory}`,
    `TCPSocket ${port}`,
    // Base64 attachments are only decoded with ScanMail.
    'ScanMail yes',
    'ScanArchive yes',
    'StreamMaxLength 64M',
    'MaxThreads 12',
    'MaxConnectionQueueLength 200',
    // The database never changes: no reload checks.
    'SelfCheck 0',
    '',
  ].join('\n');
}
