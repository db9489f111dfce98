import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { checkVerdict, parseVersion, requestHeaders } from '../../../../scanners/rspamd/protocol.js';
import { scanSession } from '../../../helpers/scan-session.js';

const captured = (name: string): Buffer => readFileSync(new URL(`../../../../fixtures/captured/rspamd/${name}`, import.meta.url));

describe('rspamd protocol: request headers', () => {
  test('the session as Rspamd\'s headers, one Rcpt per recipient', () => {
    const session = scanSession({ rcptTo: ['bob@example.test', 'carol@example.test'], user: 'alice@sender.example', role: 'submission' });
    assert.deepEqual(requestHeaders(session, 1234), {
      'Content-Length': '1234',
      IP: '192.0.2.10',
      From: 'alice@sender.example',
      'Queue-Id': 'test-session-1',
      'MTA-Name': 'mx.example.test',
      Helo: 'client.example.test',
      Hostname: 'client.example.test',
      Rcpt: ['bob@example.test', 'carol@example.test'],
      User: 'alice@sender.example',
    });
  });

  test('what the client did not give is left out: no HELO, no PTR name, no user, the null sender', () => {
    const { helo, clientName, ...rest } = scanSession({ mailFrom: '' });
    assert.equal(typeof helo, 'string');
    assert.equal(typeof clientName, 'string');
    assert.deepEqual(requestHeaders(rest, 0), {
      'Content-Length': '0',
      IP: '192.0.2.10',
      From: '',
      'Queue-Id': 'test-session-1',
      'MTA-Name': 'mx.example.test',
      Rcpt: ['bob@example.test'],
    });
  });

  test('a message from a file (the scan command) has no client: no IP header', () => {
    assert.equal(requestHeaders(scanSession({ clientAddress: '' }), 1).IP, undefined);
  });

  test('a control character in a value cannot end its header line', () => {
    const headers = requestHeaders(scanSession({ helo: 'evil\r\nUser: admin' }), 1);
    assert.equal(headers.Helo, 'evil??User: admin');
    assert.equal(headers.User, undefined);
  });
});

describe('rspamd protocol: answers', () => {
  test('clean: no action, the score and the reject limit, every symbol by name', () => {
    const verdict = checkVerdict(200, captured('checkv2-clean.json'));
    assert.ok(verdict.kind === 'scored', JSON.stringify(verdict));
    assert.equal(verdict.action, 'none');
    assert.equal(verdict.score, -0.1);
    assert.equal(verdict.threshold, 15);
    assert.ok(verdict.rules.includes('MIME_GOOD') && verdict.rules.includes('TO_MATCH_ENVRCPT_ALL'), verdict.rules.join());
  });

  test('GTUBE: reject at 15', () => {
    assert.deepEqual(checkVerdict(200, captured('checkv2-gtube.json')), { kind: 'scored', score: 15, threshold: 15, rules: ['GTUBE'], action: 'reject' });
  });

  test('spam-like: add header is a tag, the score rounded from 12.500000', () => {
    const verdict = checkVerdict(200, captured('checkv2-spam-like.json'));
    assert.ok(verdict.kind === 'scored' && verdict.action === 'tag' && verdict.score === 12.5, JSON.stringify(verdict));
  });

  for (const [action, expected] of [
    ['soft reject', 'tempfail'],
    ['rewrite subject', 'tag'],
    ['greylist', 'none'],
    ['discard', 'none'],
  ] as const) {
    test(`action "${action}" is ${expected}`, () => {
      const body = Buffer.from(JSON.stringify({ score: 7, required_score: 15, action, symbols: {} }));
      assert.deepEqual(checkVerdict(200, body), { kind: 'scored', score: 7, threshold: 15, rules: [], action: expected });
    });
  }

  for (const [what, status, body, detail] of [
    ['an error answer', 500, captured('error-invalid-command.json').toString(), /rspamd answered 500: invalid command/],
    ['a body that is not JSON', 200, '<html>proxy error</html>', /not JSON/],
    ['JSON without a score', 200, '{"action":"no action"}', /without score/],
    ['JSON that is not an object', 200, 'null', /without score/],
  ] as const) {
    test(`${what} is a protocol error`, () => {
      const verdict = checkVerdict(status, Buffer.from(body));
      assert.ok(verdict.kind === 'error' && verdict.error === 'protocol', JSON.stringify(verdict));
      assert.match(verdict.detail, detail);
    });
  }

  test('the version from the Server header', () => {
    assert.equal(parseVersion('rspamd/3.4'), 'Rspamd 3.4');
    assert.equal(parseVersion('nginx'), undefined);
    assert.equal(parseVersion(undefined), undefined);
  });
});
