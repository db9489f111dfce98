import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { fixture } from '../scenarios/scanning-scenarios.js';
import { describeAdapterConformance } from './kit.js';
import { scanner as subjectKeyword } from './subject-keyword.js';

// A third-party adapter proves itself with the same kit: this harness is all it takes.
describeAdapterConformance({
  title: 'subject-keyword (example plugin)',
  factory: subjectKeyword,
  working: () => ({ words: ['lottery', 'GTUBE'] }),
  samples: { clean: () => fixture('clean.eml'), positive: () => fixture('gtube.eml') },
  positive: { kind: 'banned', reason: /subject contains "gtube"/ },
  empty: 'clean',
});

test('the example plugin registers through the config\'s plugins key', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ssp-conformance-plugin-'));
  try {
    const plugin = fileURLToPath(new URL('./subject-keyword.ts', import.meta.url));
    const file = path.join(dir, 'config.yaml');
    await writeFile(file, `plugins: [${JSON.stringify(plugin)}]\nscanners:\n  - { type: subject-keyword, words: [lottery], timeout: 2s }\n`);
    const { config, factories } = await loadConfig(file, new Map(), {});
    assert.equal(factories.get('subject-keyword')?.type, 'subject-keyword');
    assert.deepEqual(config.scanners[0]?.options, { words: ['lottery'] });
    assert.equal(config.scanners[0]?.timeout, 2000);
    assert.equal(config.scanners[0]?.category, 'content');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
