import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { spamassassinScanner, type SpamassassinOptions } from '../../../../scanners/spamassassin/index.js';
import { memoryMessage } from './fakes.js';
import { scanSession } from '../../../helpers/scan-session.js';

const port = process.env.SSP_SPAMD_PORT;
const skip = port ? false : 'SSP_SPAMD_PORT is not set: no spamd to scan with';
const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';
const mail = (body: string) =>
  memoryMessage(
    `From: alice@example.org\r\nTo: bob@example.org\r\nSubject: lunch\r\nDate: ${new Date().toUTCString()}\r\n` +
      `Message-ID: <${Date.now()}.real-spamd@example.org>\r\n\r\n${body}\r\n`,
  );

test('real spamd: GTUBE scores 1000 or more, a ham less than 5, ping and version answer', { skip }, async () => {
  const options = spamassassinScanner.options.parse({ host: process.env.SSP_SPAMD_HOST ?? '127.0.0.1', port: Number(port) });
  const scanner = spamassassinScanner.create(options as SpamassassinOptions, { name: 'spamd', logger: pino({ enabled: false }) });
  const signal = AbortSignal.timeout(30_000);
  const spam = await scanner.scan(mail(`Buy now.\r\n${GTUBE}`), signal, scanSession());
  assert.ok(spam.kind === 'scored' && spam.score >= 1000 && spam.rules.includes('GTUBE'), JSON.stringify(spam));
  const ham = await scanner.scan(mail('Hi Bob,\r\n\r\nsee you at lunch tomorrow.\r\n\r\nAlice'), signal, scanSession());
  assert.ok(ham.kind === 'scored' && ham.score < 5, JSON.stringify(ham));
  await scanner.ping?.(signal);
  assert.match((await scanner.version?.(signal)) ?? '', /^SpamAssassin \d/);
});
