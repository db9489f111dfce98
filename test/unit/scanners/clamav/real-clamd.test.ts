import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { clamavScanner, type ClamavOptions } from '../../../../scanners/clamav/index.js';
import { memoryMessage } from './fakes.js';
import { EICAR } from '../../../helpers/eicar.js';
import { scanSession } from '../../../helpers/scan-session.js';

const port = process.env.SSP_CLAMD_PORT;
const skip = port ? false : 'SSP_CLAMD_PORT is not set: no clamd to scan with';
const mail = (body: string) =>
  memoryMessage(`From: a@example.org\r\nTo: b@example.org\r\nSubject: test\r\nDate: ${new Date().toUTCString()}\r\n\r\n${body}\r\n`);

test('real clamd: EICAR is infected, a plain message is clean, ping and version answer', { skip }, async () => {
  const options = clamavScanner.options.parse({ host: process.env.SSP_CLAMD_HOST ?? '127.0.0.1', port: Number(port) });
  const scanner = clamavScanner.create(options as ClamavOptions, { name: 'clamav', logger: pino({ enabled: false }) });
  const signal = AbortSignal.timeout(10_000);
  const infected = await scanner.scan(mail(EICAR), signal, scanSession());
  assert.ok(infected.kind === 'infected' && /eicar/i.test(infected.signature), JSON.stringify(infected));
  assert.deepEqual(await scanner.scan(mail('Hello Bob, see you at lunch.'), signal, scanSession()), { kind: 'clean' });
  assert.deepEqual(await scanner.scan(memoryMessage(''), signal, scanSession()), { kind: 'clean' });
  await scanner.ping?.(signal);
  assert.match((await scanner.version?.(signal)) ?? '', /^ClamAV \d/);
});
