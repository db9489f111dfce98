import { readFileSync } from 'node:fs';
import path from 'node:path';
import { largeCleanMessage } from '../../fixtures/large-message.js';

const fixtures = path.resolve(import.meta.dirname, '../../fixtures');

/** A fixture with today's date, so SpamAssassin's date rules do not score it as old mail. */
export function fixture(name: string): Buffer {
  const text = readFileSync(path.join(fixtures, name), 'latin1');
  const today = new Date().toUTCString().replace('GMT', '+0000');
  return Buffer.from(text.replace(/^Date: .*$/m, `Date: ${today}`), 'latin1');
}

export interface ScanningScenario {
  readonly name: string;
  readonly message: () => Buffer;
  /** The final reply to DATA: exact code, and a pattern for the enhanced code and text. */
  readonly reply: { readonly code: number; readonly text: RegExp };
  /** Delivered: headers of the delivered copy that must match (absent: must be absent). */
  readonly delivered?: { readonly headers: Readonly<Record<string, RegExp | undefined>>; readonly sameBody?: boolean };
}

/**
 * One table of scanning scenarios, run by the native suite (test/integration/scanning.test.ts,
 * daemons from scripts/) and by the container suite (test/containers/, same table against
 * clamd and spamd in containers). A message is either delivered with verdict headers or
 * refused in-session and never delivered.
 */
export const scanningScenarios: readonly ScanningScenario[] = [
  {
    name: 'clean message: delivered with verdict headers and a byte-identical body',
    message: () => fixture('clean.eml'),
    reply: { code: 250, text: /^2\.0\.0 Ok: queued as / },
    delivered: {
      sameBody: true,
      headers: {
        'X-Virus-Scanned': /^clamav clean, attachments clean at /,
        'X-Spam-Status': /^No, score=-?\d+\.\d required=5\.0 tests=/,
        'X-Spam-Score': /^-?\d+\.\d$/,
        'X-Spam-Flag': undefined,
      },
    },
  },
  {
    name: 'EICAR as a base64 attachment: 554 naming the signature, not delivered',
    message: () => fixture('eicar-attachment.eml'),
    reply: { code: 554, text: /^5\.7\.1 Message rejected: virus found: Eicar-Test-Signature/ },
  },
  {
    name: 'EICAR inside a zip: 554, not delivered',
    message: () => fixture('eicar-zip.eml'),
    reply: { code: 554, text: /^5\.7\.1 Message rejected: virus found: Eicar-Test-Signature/ },
  },
  {
    name: 'GTUBE: 550 as spam, not delivered',
    message: () => fixture('gtube.eml'),
    reply: { code: 550, text: /^5\.7\.1 Message rejected as spam \(score 1\d\d\d\.\d, limit 10\.0\)$/ },
  },
  {
    name: 'banned attachment (.exe): 554, not delivered',
    message: () => fixture('banned-attachment.eml'),
    reply: { code: 554, text: /^5\.7\.1 Message rejected: .*setup\.exe/ },
  },
  {
    name: 'forged verdict headers from the sender are removed',
    message: () => fixture('forged-headers.eml'),
    reply: { code: 250, text: /^2\.0\.0 / },
    delivered: {
      headers: {
        'X-Spam-Flag': undefined,
        'X-Spam-Status': /^No, score=-?\d+\.\d required=5\.0 tests=(?!FORGED)/,
        'X-Virus-Scanned': /^clamav clean, attachments clean at /,
      },
    },
  },
  {
    name: 'a message over spamassassin\'s maxSize is scanned in part, and the header says so',
    message: () => largeCleanMessage(700 * 1024, 'Large clean report'),
    reply: { code: 250, text: /^2\.0\.0 / },
    delivered: { sameBody: true, headers: { 'X-Spam-Status': /scanned=first \d+ of \d+ bytes$/ } },
  },
];

/** The scanner config the scenarios assume (rejectScore 10, tagScore 5). */
export function scanningConfig(clamd: { host: string; port: number }, spamd: { host: string; port: number }): Record<string, unknown>[] {
  return [
    { type: 'clamav', host: clamd.host, port: clamd.port, timeout: '30s' },
    { type: 'spamassassin', host: spamd.host, port: spamd.port, timeout: '60s', rejectScore: 10, tagScore: 5 },
    { type: 'attachments' },
  ];
}
