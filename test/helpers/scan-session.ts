import type { ScanSession } from '../../src/scan/scan-session.js';

/**
 * The session a scanner is given with a message: a client that said EHLO, from a documentation
 * address (a loopback one would be trusted by spamd, ALL_TRUSTED, and score a point less).
 */
export function scanSession(overrides: Partial<ScanSession> = {}): ScanSession {
  return {
    id: 'test-session-1',
    clientAddress: '192.0.2.10',
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
