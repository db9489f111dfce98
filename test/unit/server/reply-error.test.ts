import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { replyError, replyText } from '../../../src/server/reply-error.js';
import { replies } from '../../../src/smtp/replies.js';

describe('replyError', () => {
  test('carries the reply code and the enhanced code + text as smtp-server needs them', () => {
    const error = replyError({ code: 550, enhanced: '5.1.1', text: '<bob@example.org>: User unknown' });
    assert.ok(error instanceof Error);
    assert.equal(error.responseCode, 550);
    assert.equal(error.message, '5.1.1 <bob@example.org>: User unknown');
  });

  test('our own replies come out as the table says', () => {
    const error = replyError(replies.upstreamUnavailable);
    assert.equal(error.responseCode, 451);
    assert.equal(error.message, '4.4.1 Mail service temporarily unavailable, please try again later');
  });

  test('a relayed reply without an enhanced code gets its class’s generic one', () => {
    assert.equal(replyError({ code: 554, text: 'go away' }).message, '5.0.0 go away');
    assert.equal(replyError({ code: 421, text: 'bye' }).message, '4.0.0 bye');
  });
});

describe('replyText', () => {
  test('a positive reply keeps its own enhanced code, or gets 2.0.0', () => {
    assert.equal(replyText({ code: 250, enhanced: '2.0.0', text: 'Ok: queued as 3F2A1' }), '2.0.0 Ok: queued as 3F2A1');
    assert.equal(replyText({ code: 250, text: 'Ok: queued as 3F2A1' }), '2.0.0 Ok: queued as 3F2A1');
  });

  test('an empty text leaves only the enhanced code, without a trailing space', () => {
    assert.equal(replyText({ code: 550, enhanced: '5.7.1', text: '' }), '5.7.1');
  });
});
