import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../../src/config/load.js';
import { receivedHeader } from '../../../src/message/trace-header.js';
import { builtinScanners } from '../../../src/scan/builtin.js';

/**
 * docs/exchange.md cannot be tested against Exchange here; what it says of the proxy can: its
 * configs load, and the Received header it shows is the one the proxy writes for those facts.
 */
const guide = readFileSync(path.resolve(import.meta.dirname, '../../../docs/exchange.md'), 'utf8');
const blocks = [...guide.matchAll(/^( *)```(\w*)\n([\s\S]*?)^\1```/gm)].map((match) => ({
  lang: match[2],
  text: match[3]!.replace(new RegExp(`^${match[1]}`, 'gm'), ''),
}));

describe('docs/exchange.md', () => {
  test('every YAML block is a config the proxy loads', () => {
    const yaml = blocks.filter((block) => block.lang === 'yaml');
    assert.ok(yaml.length >= 2);
    for (const block of yaml) assert.doesNotThrow(() => parseConfig(parseYaml(block.text), builtinScanners), block.text);
  });

  test('the SCL block gives what section 4 says', () => {
    const block = blocks.find((candidate) => candidate.lang === 'yaml' && candidate.text.startsWith('exchange:'))!;
    const { scl } = parseConfig(parseYaml(block.text), builtinScanners).exchange;
    assert.deepEqual(scl, { clean: 0, tagged: 6, scores: [{ score: 3, scl: 3 }] });
  });

  test('the Received header shown is the proxy\'s own, byte for byte but the folding indent', () => {
    const shown = blocks.find((block) => block.text.startsWith('Received: '))!.text.trimEnd().replace(/\n {8}/g, '\r\n\t');
    const [name, value] = receivedHeader(
      {
        helo: 'mail.sender.example',
        name: 'out.sender.example',
        address: '192.0.2.7',
        ehlo: true,
        tls: { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' },
        authenticated: false,
        id: '4n0bq5d8t2x1kj7c',
        recipients: ['alice@contoso.com'],
      },
      'mx1.example.com',
      new Date(Date.UTC(2026, 10, 30, 5, 51, 2)),
    );
    assert.equal(shown, `${name}: ${value}`);
  });
});
