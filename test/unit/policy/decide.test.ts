import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decide, OBSERVE_HEADER, outboundReplies, type PolicySettings } from '../../../src/policy/decide.js';
import type { Decision } from '../../../src/policy/decision.js';
import type { ScanResult } from '../../../src/scan/scan-result.js';
import { scanError } from '../../../src/scan/verdict.js';
import { formatReply } from '../../../src/smtp/reply.js';

type Mode = PolicySettings['mode'];
const virus = (mode: Mode = 'enforce', onError: PolicySettings['onError'] = 'tempfail') =>
  ['clamav', { category: 'antivirus', onError, rejectScore: 10, tagScore: 5, mode }] as const;
const spam = (mode: Mode = 'enforce', onError: PolicySettings['onError'] = 'tempfail') =>
  ['spamassassin', { category: 'antispam', onError, rejectScore: 10, tagScore: 5, mode }] as const;
const files = (mode: Mode = 'enforce') => ['attachments', { category: 'content', onError: 'tempfail', rejectScore: 10, tagScore: 5, mode }] as const;

const result = (name: string, verdict: ScanResult['verdict']): ScanResult => ({ name, type: name, verdict, ms: 3, messageBytes: 100 });
const infected = result('clamav', { kind: 'infected', signature: 'Eicar-Signature' });
const cleanAv = result('clamav', { kind: 'clean' });
const avDown = result('clamav', scanError('unavailable', 'connect ECONNREFUSED'));
const score = (value: number) => result('spamassassin', { kind: 'scored', score: value, threshold: 5, rules: ['GTUBE'] });
/** Rspamd's answer: its score and reject limit, and the action it asked for. */
const engine = (value: number, action: 'reject' | 'tempfail' | 'tag' | 'none') =>
  result('spamassassin', { kind: 'scored', score: value, threshold: 15, rules: ['SYM'], action });
const spamDown = result('spamassassin', scanError('timeout', 'no verdict within 30000 ms'));
const banned = result('attachments', { kind: 'banned', reason: 'banned attachment type: x.exe', items: ['x.exe'] });

/** What a client and the next hop would see: the reply, or the added headers. */
function seen(decision: Decision): string {
  if (decision.action === 'reject') return formatReply(decision.reply);
  return decision.headers.add.map(([name, value]) => `${name}: ${value.replace(/\r\n\t/g, ' ')}`).join(' | ');
}

const cases: [string, readonly (readonly [string, PolicySettings])[], ScanResult[], string][] = [
  ['enforce: a virus rejects', [virus(), spam()], [infected, score(0)], '554 5.7.1 Message rejected: virus found: Eicar-Signature'],
  ['enforce: spam at rejectScore rejects', [virus(), spam()], [cleanAv, score(10)], '550 5.7.1 Message rejected as spam (score 10.0, limit 10.0)'],
  ['enforce: a virus stands though the spam engine failed', [virus(), spam()], [infected, spamDown], '554 5.7.1 Message rejected: virus found: Eicar-Signature'],
  ['enforce: a failure with onError tempfail', [virus(), spam()], [avDown, score(0)], '451 4.7.1 Message could not be scanned, please try again later'],
  [
    'observe: a virus passes, tagged with what would have happened',
    [virus('observe'), spam('observe')],
    [infected, score(1)],
    `X-Virus-Scanned: clamav infected (Eicar-Signature) at mx.test | X-Spam-Score: 1.0 | X-Spam-Status: No, score=1.0 required=5.0 tests=GTUBE | ${OBSERVE_HEADER}: would reject: 554 5.7.1 Message rejected: virus found: Eicar-Signature`,
  ],
  [
    'observe: spam passes flagged, and says it would have been refused',
    [virus('observe'), spam('observe')],
    [cleanAv, score(1000)],
    `X-Virus-Scanned: clamav clean at mx.test | X-Spam-Flag: YES | X-Spam-Score: 1000.0 | X-Spam-Status: Yes, score=1000.0 required=5.0 tests=GTUBE | ${OBSERVE_HEADER}: would reject: 550 5.7.1 Message rejected as spam (score 1000.0, limit 10.0)`,
  ],
  ['observe: a banned part passes', [files('observe')], [banned], `X-Virus-Scanned: attachments banned (banned attachment type: x.exe) at mx.test | ${OBSERVE_HEADER}: would reject: 554 5.7.1 Message rejected: banned attachment type: x.exe`],
  ['observe: a fault still follows onError tempfail', [virus('observe'), spam('observe')], [avDown, score(1000)], '451 4.7.1 Message could not be scanned, please try again later'],
  ['observe: a fault with onError accept passes', [virus('observe', 'accept'), spam('observe')], [avDown, score(0)], 'X-Virus-Scanned: clamav not scanned (unavailable) at mx.test | X-Spam-Score: 0.0 | X-Spam-Status: No, score=0.0 required=5.0 tests=GTUBE'],
  ['per scanner: an enforcing scanner still rejects beside an observing one', [virus('enforce'), spam('observe')], [infected, score(1000)], '554 5.7.1 Message rejected: virus found: Eicar-Signature'],
  ['engine action reject under our rejectScore: 550 with the engine\'s limit', [virus(), spam()], [cleanAv, engine(8, 'reject')], '550 5.7.1 Message rejected as spam (score 8.0, limit 15.0)'],
  ['a score over our rejectScore rejects though the engine only tags', [virus(), spam()], [cleanAv, engine(12, 'tag')], '550 5.7.1 Message rejected as spam (score 12.0, limit 10.0)'],
  ['engine soft reject: 451', [virus(), spam()], [cleanAv, engine(3, 'tempfail')], '451 4.7.1 Message deferred as possible spam, please try again later'],
  ['engine soft reject: a virus takes precedence', [virus(), spam()], [infected, engine(3, 'tempfail')], '554 5.7.1 Message rejected: virus found: Eicar-Signature'],
  ['engine add header under our tagScore: flagged', [virus(), spam()], [cleanAv, engine(2, 'tag')], 'X-Virus-Scanned: clamav clean at mx.test | X-Spam-Flag: YES | X-Spam-Score: 2.0 | X-Spam-Status: Yes, score=2.0 required=5.0 tests=SYM'],
  ['engine no action: not flagged', [virus(), spam()], [cleanAv, engine(2, 'none')], 'X-Virus-Scanned: clamav clean at mx.test | X-Spam-Score: 2.0 | X-Spam-Status: No, score=2.0 required=5.0 tests=SYM'],
  [
    'observe: an engine soft reject passes flagged, saying it would have been deferred',
    [virus('observe'), spam('observe')],
    [cleanAv, engine(3, 'tempfail')],
    `X-Virus-Scanned: clamav clean at mx.test | X-Spam-Flag: YES | X-Spam-Score: 3.0 | X-Spam-Status: Yes, score=3.0 required=5.0 tests=SYM | ${OBSERVE_HEADER}: would reject: 451 4.7.1 Message deferred as possible spam, please try again later`,
  ],
  [
    'per scanner: an observing virus scanner lets the enforcing spam engine decide',
    [virus('observe'), spam('enforce')],
    [infected, score(12)],
    '550 5.7.1 Message rejected as spam (score 12.0, limit 10.0)',
  ],
];

describe('decide', () => {
  for (const [name, settings, results, expected] of cases) {
    test(name, () => assert.equal(seen(decide(results, new Map(settings), 'mx.test')), expected));
  }

  test('observe: the held-back refusal is on the decision for the log, and a forged observe header is removed', () => {
    const decision = decide([infected], new Map([virus('observe')]), 'mx.test');
    assert.equal(decision.action, 'pass');
    assert.deepEqual(decision.action === 'pass' && decision.observed, {
      reason: 'virus Eicar-Signature',
      reply: { code: 554, enhanced: '5.7.1', text: 'Message rejected: virus found: Eicar-Signature' },
    });
    assert.ok(decision.action === 'pass' && decision.headers.remove.includes(OBSERVE_HEADER));
  });

  test('a clean pass in observe mode says nothing was held back', () => {
    const decision = decide([cleanAv], new Map([virus('observe')]), 'mx.test');
    assert.equal(decision.action === 'pass' && decision.observed, undefined);
    assert.equal(seen(decision), 'X-Virus-Scanned: clamav clean at mx.test');
  });

  test('outbound wording: our own user is told what the finding means for them, with the same codes', () => {
    const outbound = (settings: readonly (readonly [string, PolicySettings])[], results: ScanResult[]) =>
      seen(decide(results, new Map(settings), 'mx.test', outboundReplies));
    assert.equal(
      outbound([virus(), spam()], [infected, score(0)]),
      '554 5.7.1 Message not sent: it contains a virus (Eicar-Signature); your computer may be infected, please have it checked',
    );
    assert.equal(
      outbound([virus(), spam()], [cleanAv, score(12)]),
      '550 5.7.1 Message not sent: it looks like spam (score 12.0, limit 10.0); if you did not write it, your account may be compromised: change your password',
    );
    assert.equal(outbound([files()], [banned]), '554 5.7.1 Message not sent: banned attachment type: x.exe');
    assert.equal(outbound([virus(), spam()], [avDown, score(0)]), '451 4.7.1 Message could not be scanned, please try again later');
  });
});
