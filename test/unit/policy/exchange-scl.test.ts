import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sclFor, type SclSettings } from '../../../src/policy/exchange-scl.js';
import type { HeaderSettings } from '../../../src/policy/verdict-headers.js';
import type { ScanResult } from '../../../src/scan/scan-result.js';
import { scanError } from '../../../src/scan/verdict.js';

const scanners = new Map<string, HeaderSettings>([
  ['clamav', { category: 'antivirus', tagScore: 5 }],
  ['spamd', { category: 'antispam', tagScore: 5 }],
]);
const result = (name: string, verdict: ScanResult['verdict']): ScanResult => ({ name, type: name, verdict, ms: 1, messageBytes: 10 });
const score = (value: number) => result('spamd', { kind: 'scored', score: value, threshold: 5, rules: [] });
const action = (value: number, engine: 'tag' | 'reject' | 'none') =>
  result('spamd', { kind: 'scored', score: value, threshold: 15, rules: [], action: engine });
const cleanAv = result('clamav', { kind: 'clean' });
const scl: SclSettings = { clean: 0, tagged: 6, scores: [{ score: 4, scl: 4 }, { score: 2, scl: 2 }] };

describe('sclFor', () => {
  const cases: [string, ScanResult[], number | undefined][] = [
    ['under every threshold: clean', [cleanAv, score(1.9)], 0],
    ['a negative score: clean', [score(-3)], 0],
    ['at a threshold in between: its SCL', [score(2)], 2],
    ['the highest threshold reached wins, in whatever order they are listed', [score(4.5)], 4],
    ['at tagScore: tagged', [score(5)], 6],
    ['far over (observe mode passes what rejectScore would refuse): tagged', [score(1000)], 6],
    ['under tagScore, but the engine asked for a header itself (Rspamd\'s add header): tagged', [action(2, 'tag')], 6],
    ['the engine\'s reject passed in observe mode: tagged', [action(1, 'reject')], 6],
    ['the engine said no action: by the score', [action(2, 'none')], 2],
    ['the antispam scanner failed: no SCL, Exchange judges', [cleanAv, result('spamd', scanError('timeout', 'slow'))], undefined],
    ['it skipped the message: no SCL', [result('spamd', { kind: 'skipped', reason: 'too large' })], undefined],
    ['no antispam scanner: no SCL', [cleanAv], undefined],
  ];
  for (const [name, results, expected] of cases) test(name, () => assert.equal(sclFor(results, scanners, scl), expected));

  test('without thresholds in between, everything under tagScore is clean', () => {
    assert.equal(sclFor([score(4.9)], scanners, { clean: 1, tagged: 9, scores: [] }), 1);
  });
});
