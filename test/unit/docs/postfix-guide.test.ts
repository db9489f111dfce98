import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../../src/config/load.js';
import { builtinScanners } from '../../../src/scan/builtin.js';

/**
 * docs/postfix.md section 7 shows the before-queue filter layout: its master.cf lines must be
 * the ones the tests run (scripts/templates/postfix-master.cf), its proxy config must load, and
 * the error it quotes must be the one the proxy gives.
 */
const root = path.resolve(import.meta.dirname, '../../..');
const guide = readFileSync(path.join(root, 'docs/postfix.md'), 'utf8');
const template = readFileSync(path.join(root, 'scripts/templates/postfix-master.cf'), 'utf8');
const section = guide.slice(guide.indexOf('## 7. '));
const blocks = [...section.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((match) => ({ lang: match[1], text: match[2]! }));
// The tests' own ports (scripts/lib/common.sh), which the guide uses too.
const PROXY_FILTER = '127.0.0.1:10031';

/** The -o lines under a master.cf service line, in order. */
function options(text: string, service: RegExp): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => service.test(line));
  assert.ok(start !== -1, `service ${service}`);
  const out: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!/^\s+-o /.test(line)) break;
    out.push(line.trim());
  }
  return out;
}

describe('docs/postfix.md: the before-queue filter layout', () => {
  const masterCf = blocks.find((block) => block.text.includes('smtpd_proxy_filter'))!.text;
  const rendered = template.replaceAll('@POSTFIX_PROXY_FILTER@', PROXY_FILTER);

  test('the -o lines of the public smtpd are the tests\' own', () => {
    assert.deepEqual(options(masterCf, /^smtp\s+inet/), options(rendered, /^@POSTFIX_BEFORE_QUEUE_LISTEN@ inet/));
  });

  test('the -o lines of the after-filter smtpd are the tests\' own', () => {
    assert.deepEqual(options(masterCf, /^127\.0\.0\.1:10032 inet/), options(rendered, /^@POSTFIX_AFTER_FILTER_LISTEN@ inet/));
  });

  test('the proxy config loads, listens where smtpd_proxy_filter points and states its smtpd_proxy_timeout', () => {
    const yaml = blocks.find((block) => block.lang === 'yaml')!.text;
    const config = parseConfig(parseYaml(yaml), builtinScanners);
    const listen = Array.isArray(config.listen) ? config.listen[0] : config.listen;
    assert.equal(`${listen.host}:${listen.port}`, PROXY_FILTER);
    const stated = /-o smtpd_proxy_timeout=(\d+)s/.exec(template)![1]!;
    assert.equal(listen.xforward?.smtpdProxyTimeout, Number(stated) * 1000);
    assert.equal(config.upstream.xclient, false);
  });

  test('the start-up error it quotes is the proxy\'s own', () => {
    const quoted = blocks.find((block) => block.text.startsWith('listen.xforward.smtpdProxyTimeout: '))!.text.trim();
    assert.throws(
      () => parseConfig({ listen: { xforward: { trusted: ['127.0.0.1'], smtpdProxyTimeout: '100s' } } }, builtinScanners),
      (error: Error) => error.message.split('\n').includes(quoted),
    );
  });
});
