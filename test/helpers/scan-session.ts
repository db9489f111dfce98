import type { ScanSession } from '../../src/scan/scan-session.js';

/** The session a scanner is given with a message: a client on 127.0.0.2 that said EHLO. */
export function scanSession(overrides: Partial<ScanSession> = {}): ScanSession {
  return {
    id: 'test-session-1',
    clientAddress: '127.0.0.2',
    clientName: 'client.example.test',
    helo: 'client.example.test',
    protocol: 'ESMTP',
    mailFrom: 'alice@sender.example',
    rcptTo: ['bob@example.test'],
    role: 'inbound',
    hostname: 'mx.example.test',
    receivedAt: new Date(),
    ...overrides,
  };
}
