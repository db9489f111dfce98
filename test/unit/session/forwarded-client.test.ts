import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SMTPServerSession } from 'smtp-server';
import { scanEnvelopeOf } from '../../../src/scan/scan-session.js';
import { INBOUND } from '../../../src/session/session-context.js';

/** smtp-server's session of Postfix's filter connection after its XFORWARD (values as smtp-server stores them). */
function forwardedSession(xForward: [string, string | number | false][]): SMTPServerSession {
  return {
    id: 'abc123',
    remoteAddress: '203.0.113.9',
    clientHostname: 'mail.sender.example',
    hostNameAppearsAs: 'helo.sender.example',
    transmissionType: 'ESMTPS',
    tlsOptions: { name: 'TLS_AES_256_GCM_SHA384', standardName: 'TLS_AES_256_GCM_SHA384', version: 'TLSv1.3' },
    xForward: new Map(xForward),
    envelope: { mailFrom: { address: 'a@sender.example', args: false }, rcptTo: [{ address: 'alice@example.test', args: false }] },
  } as unknown as SMTPServerSession;
}

describe('scanners\' session of a client named by XFORWARD', () => {
  test('the client the peer named, with the protocol it spoke to the peer; the peer\'s TLS is not the client\'s', () => {
    const envelope = scanEnvelopeOf(forwardedSession([['ADDR:DEFAULT', '127.0.0.1'], ['ADDR', '203.0.113.9'], ['PROTO', 'SMTP']]), INBOUND);
    assert.equal(envelope.clientAddress, '203.0.113.9');
    assert.equal(envelope.clientName, 'mail.sender.example');
    assert.equal(envelope.helo, 'helo.sender.example');
    assert.equal(envelope.protocol, 'SMTP');
    assert.equal(envelope.tls, undefined);
  });

  test('no PROTO from the peer: plain SMTP, the least it can have been, never the peer\'s own ESMTPS', () => {
    const envelope = scanEnvelopeOf(forwardedSession([['ADDR', '203.0.113.9'], ['PROTO', false]]), INBOUND);
    assert.equal(envelope.protocol, 'SMTP');
    assert.equal(envelope.tls, undefined);
  });

  test('a session without XFORWARD keeps its own TLS', () => {
    const envelope = scanEnvelopeOf(forwardedSession([]), INBOUND);
    assert.equal(envelope.protocol, 'ESMTPS');
    assert.deepEqual(envelope.tls, { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' });
  });
});
