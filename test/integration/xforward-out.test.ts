import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { countingConnect, startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';

/**
 * XFORWARD out to a real Postfix smtpd that offers it to the proxy (the after-filter smtpd of
 * the before-queue layout: smtpd_authorized_xforward_hosts = 127.0.0.0/8, no XCLIENT), for the
 * proxy's own clients, with upstream sessions pooled and handed from client to client.
 */
const message = (tag: string) => `From: a@client.example.net\r\nTo: alice@example.test\r\nSubject: ${tag}\r\n\r\nHello.\r\n`;

/** Postfix's log line for a queue id: who it says the client was. */
async function loggedClient(queueId: string): Promise<string | undefined> {
  const log = await readFile(services.postfixLog, 'utf8');
  return new RegExp(`${queueId}: (client=.*)$`, 'm').exec(log)?.[1];
}

describe('XFORWARD out (upstream.xclient: false, upstream offers XFORWARD)', () => {
  let proxy: TestProxy;
  const { connect, opened } = countingConnect();
  before(async () => {
    proxy = await startTestProxy({ upstream: { port: services.postfixAfterFilterPort, xclient: false, poolSize: 4 } }, { connect });
  });
  after(() => proxy?.stop(1000));

  test('each message names its own client in Postfix\'s log, on pooled sessions handed from client to client', async () => {
    const senders = ['127.0.0.2', '127.0.0.3', '127.0.0.2', '127.0.0.4'];
    let openedByFirst = 0;
    for (const from of senders) {
      const { address, tag } = taggedAddress();
      const client = await SmtpTestClient.afterEhlo(proxy.port, `host-${from.replaceAll('.', '-')}.example.net`, from);
      // Two messages on one connection: Postfix forgets XFORWARD after each, the proxy sends it again.
      for (const round of [1, 2]) {
        const result = await client.send('a@client.example.net', [address], message(`${tag} ${round}`));
        assert.equal(result.final?.code, 250, result.final?.last);
        const queueId = /queued as (\w+)/.exec(result.final!.last)![1]!;
        assert.equal(await loggedClient(queueId), `client=localhost[127.0.0.1], orig_client=unknown[${from}]`, `${from}, message ${round}`);
      }
      await client.quit();
      openedByFirst ||= opened();
      assert.equal((await waitForDelivery('alice', tag, 2)).length, 2);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // (The count includes the proxy's probe of the upstream at start-up.)
    assert.equal(opened(), openedByFirst, 'the first client\'s upstream session served every later client (pooled)');
  });
});
