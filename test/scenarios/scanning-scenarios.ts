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

/** The spam engine beside clamd: the table runs against either. */
export type SpamEngine = 'spamassassin' | 'rspamd';

export interface ScanningScenario {
  readonly name: string;
  readonly message: () => Buffer;
  /** The final reply to DATA: exact code, and a pattern for the enhanced code and text. */
  readonly reply: { readonly code: number; readonly text: RegExp };
  /** Delivered: headers of the delivered copy that must match (absent: must be absent). */
  readonly delivered?: { readonly headers: Readonly<Record<string, RegExp | undefined>>; readonly sameBody?: boolean };
}

/** What the spam engine's verdict headers and refusals say, with the thresholds of scanningConfig. */
const SPAM_TEXT = {
  // tagScore in X-Spam-Status: ours (5) for spamassassin, Rspamd's add_header (6) for rspamd.
  spamassassin: { required: 'required=5\\.0', gtube: /^5\.7\.1 Message rejected as spam \(score \d{3,4}\.\d, limit 10\.0\)$/ },
  // Rspamd answers GTUBE with its reject action at its reject limit.
  rspamd: { required: 'required=6\\.0', gtube: /^5\.7\.1 Message rejected as spam \(score 15\.0, limit 15\.0\)$/ },
} as const;

/**
 * One table of scanning scenarios, run by the native suite (test/integration/scanning.test.ts,
 * daemons from scripts/) against clamd with spamd and with Rspamd, and by the container suite
 * (test/containers/, same table against clamd and spamd in containers). A message is either
 * delivered with verdict headers or refused in-session and never delivered.
 */
export function scanningScenarios(engine: SpamEngine): readonly ScanningScenario[] {
  const { required, gtube } = SPAM_TEXT[engine];
  const status = (verdict: 'No' | 'Yes', tests = '') => new RegExp(`^${verdict}, score=-?\\d+\\.\\d ${required} tests=${tests}`);
  return [
    {
      name: 'clean message: delivered with verdict headers and a byte-identical body',
      message: () => fixture('clean.eml'),
      reply: { code: 250, text: /^2\.0\.0 Ok: (?:\d+ bytes )?queued as / },
      delivered: {
        sameBody: true,
        headers: {
          'X-Virus-Scanned': /^clamav clean, attachments clean at /,
          'X-Spam-Status': status('No'),
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
      // spamd: 1000, and ALL_TRUSTED (-1) for a client on loopback, as the tests' clients are.
      name: 'GTUBE: 550 as spam, not delivered',
      message: () => fixture('gtube.eml'),
      reply: { code: 550, text: gtube },
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
          'X-Spam-Status': status('No', '(?!FORGED)'),
          'X-Virus-Scanned': /^clamav clean, attachments clean at /,
        },
      },
    },
    {
      name: `a message over ${engine}'s maxSize (512 KiB) is scanned in part, and the header says so`,
      message: () => largeCleanMessage(700 * 1024, 'Large clean report'),
      reply: { code: 250, text: /^2\.0\.0 / },
      delivered: { sameBody: true, headers: { 'X-Spam-Status': /scanned=first \d+ of \d+ bytes$/ } },
    },
    ...(engine === 'rspamd'
      ? [
          {
            // No virus, no GTUBE: Rspamd's own rules (MISSING_MID, SUBJ_ALL_CAPS, R_UNDISC_RCPT...) give 12.5, its add header action.
            name: 'spam-like message: delivered, flagged as spam by Rspamd\'s add header action',
            message: () => fixture('spam-like.eml'),
            reply: { code: 250, text: /^2\.0\.0 / },
            delivered: { sameBody: true, headers: { 'X-Spam-Flag': /^YES$/, 'X-Spam-Status': status('Yes'), 'X-Virus-Scanned': /^clamav clean, attachments clean at / } },
          },
        ]
      : []),
  ];
}

/** The scanner config the scenarios assume: spamassassin with rejectScore 10 and tagScore 5, rspamd with its defaults (15, 6). */
export function scanningConfig(
  clamd: { host: string; port: number },
  spam: { host: string; port: number },
  engine: SpamEngine = 'spamassassin',
): Record<string, unknown>[] {
  const thresholds = engine === 'spamassassin' ? { rejectScore: 10, tagScore: 5 } : {};
  return [
    { type: 'clamav', host: clamd.host, port: clamd.port, timeout: '30s' },
    { type: engine, host: spam.host, port: spam.port, timeout: '60s', ...thresholds },
    { type: 'attachments' },
  ];
}
