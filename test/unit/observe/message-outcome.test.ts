import assert from 'node:assert/strict';
import { test } from 'node:test';
import { refusalOutcome, upstreamOutcome } from '../../../src/observe/message-outcome.js';
import { decide, type PolicySettings } from '../../../src/policy/decide.js';
import type { ScanResult } from '../../../src/scan/scan-result.js';
import { scanError } from '../../../src/scan/verdict.js';
import { replies } from '../../../src/smtp/replies.js';

const policy = new Map<string, PolicySettings>([
  ['clamav', { category: 'antivirus', onError: 'tempfail', rejectScore: 10, tagScore: 5, mode: 'enforce' }],
  ['spamassassin', { category: 'antispam', onError: 'tempfail', rejectScore: 10, tagScore: 5, mode: 'enforce' }],
  ['attachments', { category: 'content', onError: 'tempfail', rejectScore: 10, tagScore: 5, mode: 'enforce' }],
]);
const result = (name: string, verdict: ScanResult['verdict']): ScanResult => ({ name, type: name, verdict, ms: 1, messageBytes: 10 });

/** The policy's own refusals, so a reworded reason in decide.ts fails here rather than miscounting. */
const decided: [string, ScanResult, string][] = [
  ['virus', result('clamav', { kind: 'infected', signature: 'Eicar-Test-Signature' }), 'virus'],
  ['banned part', result('attachments', { kind: 'banned', reason: 'banned attachment type: x.exe', items: ['x.exe'] }), 'banned'],
  ['spam', result('spamassassin', { kind: 'scored', score: 1000, threshold: 5, rules: ['GTUBE'] }), 'spam'],
  ['scanner down', result('clamav', scanError('unavailable', 'connect ECONNREFUSED')), 'scanner-tempfail'],
];

for (const [what, scan, outcome] of decided) {
  test(`a refusal for a ${what} is counted as ${outcome}`, () => {
    const decision = decide([scan], policy, 'proxy.example.test');
    assert.equal(decision.action, 'reject');
    if (decision.action === 'reject') assert.equal(refusalOutcome(decision.reply, decision.reason), outcome);
  });
}

test('the session\'s own refusals and the upstream\'s final replies have their outcomes', () => {
  assert.equal(refusalOutcome(replies.messageTooBig, 'message too big'), 'size');
  assert.equal(refusalOutcome(replies.bareLineFeed, 'bare CR or LF'), 'bare-lf');
  assert.equal(upstreamOutcome({ code: 250, enhanced: '2.0.0', text: 'Ok: queued as 3F' }), 'relayed');
  assert.equal(upstreamOutcome({ code: 452, enhanced: '4.3.1', text: 'Insufficient system storage' }), 'upstream-4xx');
  assert.equal(upstreamOutcome({ code: 554, enhanced: '5.7.1', text: 'Relay access denied' }), 'upstream-5xx');
});
