import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { z } from 'zod';
import { parseConfig } from '../../../src/config/load.js';
import type { Decision } from '../../../src/policy/decision.js';
import type { ScannerFactory } from '../../../src/scan/registry.js';
import { ScanningStage } from '../../../src/scan/scanning-stage.js';
import { formatReply } from '../../../src/smtp/reply.js';
import { memoryMessage } from '../../helpers/memory-message.js';
import { scanSession } from '../../helpers/scan-session.js';

/** An antispam engine that gives every message the score its entry names. */
const fixedScore: ScannerFactory = {
  type: 'fixed-score',
  category: 'antispam',
  options: z.strictObject({ score: z.number() }),
  create: (options) => ({
    name: 'fixed-score',
    type: 'fixed-score',
    scan: async () => ({ kind: 'scored', score: options.score as number, threshold: 5, rules: ['TEST_RULE'] }),
  }),
};
const factories = new Map([[fixedScore.type, fixedScore]]);

function stage(entry: Record<string, unknown>): ScanningStage {
  const config = parseConfig({ scanners: [{ type: 'fixed-score', ...entry }] }, factories);
  return ScanningStage.fromConfig(config, factories, pino({ level: 'silent' }));
}

/** What the client hears, or the X-Spam-Flag the next hop sees. */
async function outcome(scanning: ScanningStage, role: 'inbound' | 'submission'): Promise<string> {
  const { hostname: _hostname, ...envelope } = scanSession({ role });
  const decision: Decision = await scanning.run(memoryMessage('Subject: x\r\n\r\nbody\r\n'), envelope, new AbortController().signal);
  if (decision.action === 'reject') return formatReply(decision.reply);
  return `pass, X-Spam-Flag: ${decision.headers.add.find(([name]) => name === 'X-Spam-Flag')?.[1] ?? 'none'}`;
}

describe('outbound thresholds per scanner', () => {
  test('a score under the inbound rejectScore but at the outbound one: delivered inbound, refused outbound in words for the user', async () => {
    const scanning = stage({ score: 7, rejectScore: 10, tagScore: 5, outbound: { rejectScore: 6, tagScore: 3 } });
    assert.equal(await outcome(scanning, 'inbound'), 'pass, X-Spam-Flag: YES');
    assert.equal(
      await outcome(scanning, 'submission'),
      '550 5.7.1 Message not sent: it looks like spam (score 7.0, limit 6.0); if you did not write it, your account may be compromised: change your password',
    );
  });

  test('the outbound tagScore tags what inbound would not', async () => {
    const scanning = stage({ score: 4, rejectScore: 10, tagScore: 5, outbound: { tagScore: 3 } });
    assert.equal(await outcome(scanning, 'inbound'), 'pass, X-Spam-Flag: none');
    assert.equal(await outcome(scanning, 'submission'), 'pass, X-Spam-Flag: YES');
  });

  test('without an outbound key a submission listener uses the scanner\'s own thresholds', async () => {
    const scanning = stage({ score: 12, rejectScore: 10 });
    assert.equal(await outcome(scanning, 'inbound'), '550 5.7.1 Message rejected as spam (score 12.0, limit 10.0)');
    assert.match(await outcome(scanning, 'submission'), /^550 5\.7\.1 Message not sent: it looks like spam \(score 12\.0, limit 10\.0\)/);
  });

  test('config: outbound takes only rejectScore and tagScore, and defaults each to the entry\'s own', () => {
    assert.throws(() => stage({ score: 1, outbound: { rejectscore: 5 } }), /scanners\[0\]\.outbound\.rejectscore: unknown key/);
    const config = parseConfig({ scanners: [{ type: 'fixed-score', score: 1, rejectScore: 8, outbound: { tagScore: 2 } }] }, factories);
    assert.deepEqual(config.scanners[0]!.outbound, { rejectScore: 8, tagScore: 2 });
    assert.equal(parseConfig({ scanners: [{ type: 'fixed-score', score: 1 }] }, factories).scanners[0]!.outbound, undefined);
  });
});
