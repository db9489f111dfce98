import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { parseConfig } from '../../../src/config/load.js';
import { builtinScanners } from '../../../src/scan/builtin.js';

const readme = readFileSync(path.resolve(import.meta.dirname, '../../../README.md'), 'utf8');

test('the README\'s configuration reference is a valid config, every key of it', () => {
  const start = readme.indexOf('```yaml\nlisten:');
  assert.ok(start !== -1, 'the README has its configuration block');
  const block = readme.slice(start + '```yaml\n'.length, readme.indexOf('```', start + 8));
  const config = parseConfig(parse(block), builtinScanners);
  assert.equal(config.screening?.action, 'enforce');
  assert.equal(config.screening?.dnsLists.zones.length, 2);
});
