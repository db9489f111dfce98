import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { bodyOf, headerOf, nothingDelivered, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { scanningConfig, scanningScenarios, type SpamEngine } from './scanning-scenarios.js';

export interface ScanningEnvironment {
  readonly clamd: { host: string; port: number };
  /** The spam engine's address: spamd, or Rspamd's normal worker when the suite's engine is rspamd. */
  readonly spamd: { host: string; port: number };
  /** The private Postfix whose mailboxes the checks read. */
  readonly upstreamPort: number;
}

/**
 * Registers the scenario table as tests against one environment. `environment` resolves when
 * the daemons are up; `skip` (a one-line reason) skips every scenario instead.
 */
export function describeScanningScenarios(
  title: string,
  environment: () => Promise<ScanningEnvironment>,
  skip?: string,
  spamEngine: SpamEngine = 'spamassassin',
): void {
  describe(title, { skip }, () => {
    let proxy: TestProxy;
    before(async () => {
      const env = await environment();
      proxy = await startTestProxy({ upstream: { port: env.upstreamPort }, scanners: scanningConfig(env.clamd, env.spamd, spamEngine) });
    });
    after(() => proxy?.stop(1000));

    for (const scenario of scanningScenarios(spamEngine)) {
      test(scenario.name, async () => {
        const { address, tag } = taggedAddress();
        const message = scenario.message();
        const client = await SmtpTestClient.afterEhlo(proxy.port);
        const result = await client.send('alice@sender.example', [address], message);
        await client.quit();
        const final = result.final!;
        assert.equal(final.code, scenario.reply.code, final.last);
        assert.match(final.last.slice(4), scenario.reply.text);
        if (!scenario.delivered) {
          assert.ok(await nothingDelivered('alice', tag), 'a refused message must not be delivered');
          return;
        }
        const [delivered, ...more] = await waitForDelivery('alice', tag);
        assert.ok(delivered, 'delivered');
        assert.equal(more.length, 0);
        for (const [name, pattern] of Object.entries(scenario.delivered.headers)) {
          const value = headerOf(delivered, name);
          if (pattern === undefined) assert.equal(value, undefined, `${name} must be absent`);
          else assert.match(value ?? '(absent)', pattern, name);
        }
        if (scenario.delivered.sameBody) {
          const sent = message.toString('latin1');
          assert.equal(bodyOf(delivered), sent.slice(sent.indexOf('\r\n\r\n') + 4).replace(/\r\n/g, '\n'));
        }
      });
    }
  });
}
