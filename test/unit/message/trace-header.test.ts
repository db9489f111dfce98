import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { receivedHeader, type TraceFacts } from '../../../src/message/trace-header.js';

const facts: TraceFacts = {
  helo: 'mail.sender.example',
  name: 'out.sender.example',
  address: '192.0.2.7',
  ehlo: true,
  utf8: false,
  tls: undefined,
  authenticated: false,
  id: 'abc123def456',
  recipients: ['alice@example.test'],
};
const date = new Date(Date.UTC(2026, 10, 30, 5, 4, 9));

/** The header as a receiver unfolds it. */
const line = (overrides: Partial<TraceFacts>, byHost = 'mx.example.test') => {
  const [name, value] = receivedHeader({ ...facts, ...overrides }, byHost, date);
  return `${name}: ${value.replace(/\r\n\t/g, ' ')}`;
};

describe('receivedHeader', () => {
  test('RFC 5321 4.4 form: from HELO (name [address]) by us with the protocol, our session id, the one recipient, the date', () => {
    assert.equal(
      line({}),
      'Received: from mail.sender.example (out.sender.example [192.0.2.7]) by mx.example.test (smtp-scan-proxy) with ESMTP '
        + 'id abc123def456 for <alice@example.test>; Mon, 30 Nov 2026 05:04:09 +0000',
    );
  });

  test('folded with CRLF and a tab between clauses, so each line stays short', () => {
    const [, value] = receivedHeader(facts, 'mx.example.test', date);
    for (const part of value.split('\r\n')) assert.ok(part.length <= 78, part);
    assert.ok(value.split('\r\n').slice(1).every((part) => part.startsWith('\t')));
  });

  const protocols: [string, Partial<TraceFacts>, RegExp][] = [
    ['HELO', { ehlo: false }, / with SMTP id /],
    ['EHLO and TLS: ESMTPS with the version and cipher', { tls: { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' } }, / with ESMTPS \(TLSv1\.3 TLS_AES_256_GCM_SHA384\) id /],
    ['EHLO, TLS and AUTH: ESMTPSA', { tls: { version: 'TLSv1.2', cipher: 'ECDHE-RSA-AES128-GCM-SHA256' }, authenticated: true }, / with ESMTPSA \(TLSv1\.2 ECDHE-RSA-AES128-GCM-SHA256\) id /],
    ['SMTPUTF8: RFC 6531\'s UTF8SMTP', { utf8: true }, / with UTF8SMTP id /],
    ['SMTPUTF8 and TLS: UTF8SMTPS', { utf8: true, tls: { version: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256' } }, / with UTF8SMTPS \(TLSv1\.3 TLS_AES_128_GCM_SHA256\) id /],
  ];
  for (const [name, overrides, expected] of protocols) test(name, () => assert.match(line(overrides), expected));

  const clients: [string, Partial<TraceFacts>, string][] = [
    ['no confirmed name: unknown, as Postfix writes it', { name: undefined }, 'from mail.sender.example (unknown [192.0.2.7])'],
    ['an IPv6 client: the IPv6: address literal', { address: '2001:db8::25' }, 'from mail.sender.example (out.sender.example [IPv6:2001:db8::25])'],
    ['a v4-mapped address is the IPv4 one', { address: '::ffff:192.0.2.7' }, 'from mail.sender.example (out.sender.example [192.0.2.7])'],
    ['a HELO address literal stays', { helo: '[192.0.2.7]' }, 'from [192.0.2.7] (out.sender.example [192.0.2.7])'],
    ['no HELO: the address literal', { helo: false }, 'from [192.0.2.7] (out.sender.example [192.0.2.7])'],
    [
      'a HELO that is no domain goes into the comment, unable to close it or start the date',
      { helo: 'x);for<a@b>;Tue,(1' },
      'from [192.0.2.7] (out.sender.example [192.0.2.7] helo=x??for<a@b>?Tue,?1)',
    ],
  ];
  for (const [name, overrides, expected] of clients) test(name, () => assert.ok(line(overrides).startsWith(`Received: ${expected} by `), line(overrides)));

  test('one recipient is named; with several, none (a copy never shows the others)', () => {
    assert.match(line({}), / for <alice@example\.test>; /);
    assert.doesNotMatch(line({ recipients: ['alice@example.test', 'bob@example.test'] }), / for /);
  });

  test('an internationalized recipient is named in an SMTPUTF8 transaction only (elsewhere the header stays ASCII)', () => {
    assert.match(line({ utf8: true, recipients: ['jösé@exämple.test'] }), / for <jösé@exämple\.test>; /);
    assert.doesNotMatch(line({ recipients: ['jösé@exämple.test'] }), / for /);
  });

  test('a recipient that would break the grammar (";" starts the date) is left out', () => {
    assert.doesNotMatch(line({ recipients: ['"a;b"@example.test'] }), / for /);
    assert.doesNotMatch(line({ recipients: ['a(b)@example.test'] }), / for /);
  });
});
