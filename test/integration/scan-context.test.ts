import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import type { ScannerFactory } from '../../src/scan/registry.js';
import type { ScanSession } from '../../src/scan/scan-session.js';
import { capturedLogger } from '../helpers/captured-logger.js';
import { headerOf, services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { fixture } from '../scenarios/scanning-scenarios.js';

/** Delivers clean.eml through `proxy` from 127.0.0.2 and returns the copy in alice's mailbox. */
async function deliverClean(proxy: TestProxy): Promise<string> {
  const { address, tag } = taggedAddress();
  const client = await SmtpTestClient.afterEhlo(proxy.port, 'client.example.net', '127.0.0.2');
  const result = await client.send('sender@client.example.net', [address], fixture('clean.eml'));
  await client.quit();
  assert.equal(result.final?.code, 250, result.final?.last);
  const [delivered] = await waitForDelivery('alice', tag);
  assert.ok(delivered, 'delivered');
  return delivered;
}

/** The rules an engine reported, from the delivered copy's X-Spam-Status. */
function rulesOf(delivered: string): string[] {
  const status = headerOf(delivered, 'X-Spam-Status') ?? '';
  // A long list is folded after its commas.
  const tests = /tests=(\S*)/.exec(status.replace(/,\s+/g, ','))?.[1] ?? '';
  return tests.split(',').filter(Boolean);
}

describe('scanners see the session', () => {
  describe('a scanner plugin', () => {
    const seen: ScanSession[] = [];
    const recorder: ScannerFactory = {
      type: 'session-recorder',
      options: z.strictObject({}),
      create: (_options, { name }) => ({
        name,
        type: 'session-recorder',
        scan: async (_message, _signal, session) => {
          seen.push(session);
          return { kind: 'clean' };
        },
      }),
    };
    let proxy: TestProxy;
    const { logger, lines } = capturedLogger();
    before(async () => {
      proxy = await startTestProxy({ upstream: { port: services.postfixPort }, scanners: [{ type: 'session-recorder' }] }, { factories: new Map([['session-recorder', recorder]]), logger });
    });
    after(() => proxy?.stop(1000));

    test('gets the client, its HELO, the envelope, the listener role and the session id of the log lines', async () => {
      await deliverClean(proxy);
      assert.equal(seen.length, 1);
      const session = seen[0]!;
      const relayed = lines.find((line) => line.msg === 'message relayed');
      assert.ok(relayed, 'a message relayed line');
      assert.equal(session.id, relayed.cid);
      assert.equal(session.clientAddress, '127.0.0.2');
      assert.equal(session.helo, 'client.example.net');
      assert.equal(session.protocol, 'ESMTP');
      assert.equal(session.mailFrom, 'sender@client.example.net');
      assert.deepEqual(session.rcptTo.length, 1);
      assert.match(session.rcptTo[0]!, /^alice\+/);
      assert.equal(session.role, 'inbound');
      assert.equal(session.user, undefined);
      assert.equal(session.hostname, 'proxy.example.test');
    });
  });

  describe('spamd', () => {
    let proxy: TestProxy;
    before(async () => {
      proxy = await startTestProxy({
        upstream: { port: services.postfixPort },
        scanners: [{ type: 'spamassassin', host: '127.0.0.1', port: services.spamdPort, timeout: '60s' }],
      });
    });
    after(() => proxy?.stop(1000));

    test('a clean message from a client: NO_RELAYS and NO_RECEIVED no longer fire; the Received line was scan input only', async () => {
      const delivered = await deliverClean(proxy);
      const rules = rulesOf(delivered);
      assert.ok(rules.length > 0, `rules reported: ${headerOf(delivered, 'X-Spam-Status')}`);
      assert.ok(!rules.includes('NO_RELAYS') && !rules.includes('NO_RECEIVED'), rules.join(','));
      // The client's hop is loopback, which spamd always trusts: it read the line we gave it.
      assert.ok(rules.includes('ALL_TRUSTED'), rules.join(','));
      assert.doesNotMatch(delivered, /\(smtp-scan-proxy\)/, 'the Received line spamd got never reaches the upstream');
    });
  });

  describe('rspamd', () => {
    let proxy: TestProxy;
    before(async () => {
      proxy = await startTestProxy({ upstream: { port: services.postfixPort }, scanners: [{ type: 'rspamd', host: '127.0.0.1', port: services.rspamdPort }] });
    });
    after(() => proxy?.stop(1000));

    test('judges with the envelope: MAIL FROM is not the From header (FROM_NEQ_ENVFROM), RCPT TO is a tagged address (TAGGED_RCPT)', async () => {
      const rules = rulesOf(await deliverClean(proxy));
      assert.ok(rules.includes('FROM_NEQ_ENVFROM') && rules.includes('TAGGED_RCPT'), rules.join(','));
    });
  });
});
