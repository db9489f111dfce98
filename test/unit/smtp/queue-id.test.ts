import assert from 'node:assert/strict';
import { test } from 'node:test';
import { queueIdOf } from '../../../src/smtp/queue-id.js';
import { replyFromLines } from '../../../src/smtp/reply.js';

const cases: [string, number, string, string | undefined][] = [
  ['Postfix', 250, '2.0.0 Ok: queued as 4F3Xyz1AbC', '4F3Xyz1AbC'],
  ['Postfix, long queue ids', 250, '2.0.0 Ok: queued as 4dLBqR0W3Rz9xvT', '4dLBqR0W3Rz9xvT'],
  ['Exchange', 250, '2.6.0 <abc@ex01.example> [InternalId=1391569731587, Hostname=EX01.example.com] Queued mail for delivery', '1391569731587'],
  ['Exchange, 2.6.0 without the id', 250, '2.6.0 <abc@ex01.example> Queued mail for delivery', undefined],
  ['Exim', 250, 'OK id=1rAbCd-000Xyz-0a', '1rAbCd-000Xyz-0a'],
  ['Sendmail', 250, '2.0.0 4AB1c2D3001234 Message accepted for delivery', '4AB1c2D3001234'],
  ['a reply naming no id', 250, '2.0.0 Ok', undefined],
  ['a refusal that quotes a queue id is no delivery', 554, '5.7.1 queued as ABC refused', undefined],
  ['a tempfail', 451, '4.3.0 Error: queue file write error', undefined],
];

for (const [name, code, text, expected] of cases) {
  test(`queue id: ${name}`, () => {
    assert.equal(queueIdOf(replyFromLines(code, [text])), expected);
  });
}
