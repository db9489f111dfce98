import { attachmentsScanner } from '../../scanners/attachments/index.js';
import { clamavScanner } from '../../scanners/clamav/index.js';
import { rspamdScanner } from '../../scanners/rspamd/index.js';
import { spamassassinScanner } from '../../scanners/spamassassin/index.js';
import type { ScannerFactory } from './registry.js';

/** Scanner types available without a plugin, by type name. */
export const builtinScanners: ReadonlyMap<string, ScannerFactory> = new Map<string, ScannerFactory>(
  [clamavScanner, spamassassinScanner, rspamdScanner, attachmentsScanner].map((factory) => [factory.type, factory as unknown as ScannerFactory]),
);
