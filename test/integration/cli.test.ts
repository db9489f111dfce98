import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCli, writeConfig } from '../helpers/cli.js';
import { freePort } from '../helpers/sink.js';
import { services } from '../helpers/services.js';
import { startProxyProcess } from '../helpers/proxy-process.js';

describe('the smtp-scan-proxy command', () => {
  test('an unknown key stops it with a message naming the key (exit 78)', async () => {
    const file = await writeConfig({ listen: { port: 2525 }, limits: { maxMesageSize: 10 } });
    const result = await runCli(['--config', file]);
    assert.equal(result.code, 78);
    assert.match(result.stderr, /limits\.maxMesageSize: unknown key/);
  });

  test('SMTP_SCAN_PROXY_CONFIG names the config file too', async () => {
    const file = await writeConfig({ upstream: { port: 'twenty-five' } });
    try {
      process.env.SMTP_SCAN_PROXY_CONFIG = file;
      const result = await runCli([]);
      assert.equal(result.code, 78);
      assert.match(result.stderr, /upstream\.port: /);
    } finally {
      delete process.env.SMTP_SCAN_PROXY_CONFIG;
    }
  });

  test('--check reports the listener, the upstream and each scanner; exit 0 while the proxy answers', async () => {
    const scanners = [{ type: 'clamav', host: '127.0.0.1', port: services.clamdPort }, { type: 'spamassassin', host: '127.0.0.1', port: await freePort() }];
    const proxy = await startProxyProcess({ upstream: { port: services.postfixPort }, scanners });
    try {
      const file = await writeConfig({ listen: { port: proxy.port }, upstream: { port: services.postfixPort }, scanners });
      const result = await runCli(['--check', '--config', file]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(result.stdout, /^ok {3}listener 127\.0\.0\.1:\d+: 220 /m);
      assert.match(result.stdout, /^ok {3}upstream 127\.0\.0\.1:\d+: 220 /m);
      assert.match(result.stdout, /^ok {3}scanner clamav \(clamav\): answers$/m);
      assert.match(result.stdout, /^FAIL scanner spamassassin \(spamassassin\): /m);
    } finally {
      await proxy.stop();
    }
  });

  test('--check fails the upstream line when XCLIENT is expected but not offered, and says what to add (issue 19)', async () => {
    const proxy = await startProxyProcess({ upstream: { port: services.postfixOpenPort } });
    try {
      const file = await writeConfig({ listen: { port: proxy.port }, upstream: { port: services.postfixOpenPort } });
      const result = await runCli(['--check', '--config', file]);
      assert.equal(result.code, 0, 'the listener answers');
      assert.match(result.stdout, /^FAIL upstream 127\.0\.0\.1:\d+: 220 .*no XCLIENT offered to 127\.0\.0\.1: add it to Postfix's smtpd_authorized_xclient_hosts/m);
      const withXclient = await runCli(['--check', '--config', await writeConfig({ listen: { port: proxy.port }, upstream: { port: services.postfixPort } })]);
      assert.match(withXclient.stdout, /^ok {3}upstream 127\.0\.0\.1:\d+: 220 .*; XCLIENT offered$/m);
    } finally {
      await proxy.stop();
    }
  });

  test('--check exits 1 when nothing answers on the listen port', async () => {
    const file = await writeConfig({ listen: { port: await freePort() } });
    const result = await runCli(['--check', '--config', file]);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /^FAIL listener /m);
  });
});
