import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatReply, isPositive, oneLine, replyFromLines } from '../../../src/smtp/reply.js';

describe('replyFromLines', () => {
  test('splits off the enhanced code of the first line', () => {
    assert.deepEqual(replyFromLines(550, ['5.1.1 <bob@example.org>: Recipient address rejected: User unknown']), {
      code: 550,
      enhanced: '5.1.1',
      text: '<bob@example.org>: Recipient address rejected: User unknown',
    });
  });

  test('a reply without an enhanced code keeps its text whole', () => {
    assert.deepEqual(replyFromLines(250, ['Ok: queued as 3F2A1']), { code: 250, enhanced: undefined, text: 'Ok: queued as 3F2A1' });
  });

  test('joins a multi-line reply into one line, dropping the repeated enhanced code', () => {
    const reply = replyFromLines(452, ['4.2.2 Mailbox full', '4.2.2 try again later']);
    assert.deepEqual(reply, { code: 452, enhanced: '4.2.2', text: 'Mailbox full try again later' });
  });

  test('continuation lines without the enhanced code are joined as they are', () => {
    assert.equal(replyFromLines(554, ['5.7.1 Rejected', 'see https://example.org/why']).text, 'Rejected see https://example.org/why');
  });

  test('an enhanced code whose class does not match the reply code is not split off', () => {
    assert.deepEqual(replyFromLines(250, ['5.1.1 odd but true']), { code: 250, enhanced: undefined, text: '5.1.1 odd but true' });
    assert.deepEqual(replyFromLines(451, ['5.3.0 mixed']), { code: 451, enhanced: undefined, text: '5.3.0 mixed' });
  });

  test('something that only looks like an enhanced code stays in the text', () => {
    assert.equal(replyFromLines(250, ['2.0.0.1 version']).enhanced, undefined);
    assert.equal(replyFromLines(250, ['2.0.0ok']).enhanced, undefined);
    assert.equal(replyFromLines(250, ['2.1234.0 x']).enhanced, undefined);
  });

  test('a bare enhanced code with no text gives an empty text', () => {
    assert.deepEqual(replyFromLines(250, ['2.0.0']), { code: 250, enhanced: '2.0.0', text: '' });
    assert.deepEqual(replyFromLines(250, []), { code: 250, enhanced: undefined, text: '' });
  });

  test('control characters become single spaces and the text is trimmed', () => {
    assert.equal(replyFromLines(550, ['5.7.1 bad\r\nRCPT TO:<x>\x00\x1b[31m  end\t']).text, 'bad RCPT TO:<x> [31m end');
    assert.equal(oneLine('  a\x7f\x7fb  '), 'a b');
  });
});

describe('formatReply', () => {
  test('code, enhanced code and text on one line', () => {
    assert.equal(formatReply({ code: 550, enhanced: '5.1.1', text: 'nope' }), '550 5.1.1 nope');
  });

  test('without an enhanced code or text, nothing empty is left in between', () => {
    assert.equal(formatReply({ code: 250, text: 'Ok' }), '250 Ok');
    assert.equal(formatReply({ code: 250, enhanced: '2.0.0', text: '' }), '250 2.0.0');
    assert.equal(formatReply({ code: 221, text: '' }), '221');
  });

  test('round-trips a parsed reply', () => {
    assert.equal(formatReply(replyFromLines(421, ['4.3.2 Service shutting down'])), '421 4.3.2 Service shutting down');
  });
});

describe('isPositive', () => {
  test('2xx and 3xx are positive, 4xx and 5xx are not', () => {
    assert.deepEqual([199, 250, 354, 399, 400, 451, 550].map((code) => isPositive({ code, text: '' })), [false, true, true, true, false, false, false]);
  });
});

describe('replyFromLines regressions', () => {
  test('a continuation line whose code only starts like the first one keeps it (5.1.1 vs 5.1.10)', () => {
    assert.equal(replyFromLines(550, ['5.1.1 a', '5.1.10 b']).text, 'a 5.1.10 b');
  });
});
