import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/errors.js';

// The plugin imports zod from this project: a plugin in a temp dir has no node_modules of its own.
const zodUrl = import.meta.resolve('zod');

const customPlugin = `
import { z } from ${JSON.stringify(zodUrl)};
export const scanner = {
  type: 'custom',
  options: z.strictObject({ level: z.number().int().min(1).max(3).default(2) }),
  defaults: { timeout: 1000 },
  create(options, context) {
    return { name: context.name, type: 'custom', level: options.level, scan: async () => ({ kind: 'clean' }) };
  },
};
`;

describe('plugins', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ssp-plugins-'));
    await mkdir(path.join(dir, 'conf'));
    await writeFile(path.join(dir, 'conf', 'custom.mjs'), customPlugin);
    await writeFile(path.join(dir, 'conf', 'default-export.mjs'), customPlugin.replace('export const scanner =', 'export default'));
    await writeFile(path.join(dir, 'conf', 'empty.mjs'), 'export const unrelated = 1;\n');
    await writeFile(path.join(dir, 'conf', 'half.mjs'), "export const scanner = { type: 'half' };\n");
    await writeFile(path.join(dir, 'conf', 'throws.mjs'), "throw new Error('plugin exploded');\n");
  });
  after(() => rm(dir, { recursive: true, force: true }));

  let files = 0;
  /** Writes a config file into dir/conf and loads it with no built-in scanners. */
  async function loadWithFactories(yaml: string) {
    const file = path.join(dir, 'conf', `config-${++files}.yaml`);
    await writeFile(file, yaml);
    return loadConfig(file, new Map(), {});
  }
  const load = async (yaml: string) => (await loadWithFactories(yaml)).config;

  async function loadFails(yaml: string, pattern: RegExp) {
    await assert.rejects(load(yaml), (error: unknown) => {
      assert.ok(error instanceof ConfigError, `not a ConfigError: ${String(error)}`);
      assert.match(error.message, pattern);
      return true;
    });
  }

  test("a relative plugin path is resolved from the config file's directory, not the process's", async () => {
    assert.notEqual(process.cwd(), path.join(dir, 'conf'));
    const config = await load('plugins: [./custom.mjs]\nscanners:\n  - type: custom\n    level: 3\n');
    const [scanner] = config.scanners;
    assert.equal(scanner!.type, 'custom');
    assert.deepEqual(scanner!.options, { level: 3 });
    // The plugin's own defaults apply, as for built-in types.
    assert.equal(scanner!.timeout, 1000);
  });

  test('the factories handed back include the plugin, so the app can create its scanner', async () => {
    const { config, factories } = await loadWithFactories('plugins: [./custom.mjs]\nscanners:\n  - type: custom\n');
    const factory = factories.get('custom');
    assert.ok(factory);
    const created = factory.create(config.scanners[0]!.options, { name: 'c1', logger: undefined as never }) as unknown as { name: string; level: number };
    assert.equal(created.name, 'c1');
    assert.equal(created.level, 2);
  });

  test("the plugin's option schema fills its defaults", async () => {
    const config = await load('plugins: [./custom.mjs]\nscanners:\n  - type: custom\n');
    assert.deepEqual(config.scanners[0]!.options, { level: 2 });
  });

  test("the plugin's options are validated: bad values and unknown keys are named", async () => {
    await loadFails('plugins: [./custom.mjs]\nscanners:\n  - type: custom\n    level: 9\n', /^scanners\[0\]\.level: /m);
    await loadFails('plugins: [./custom.mjs]\nscanners:\n  - type: custom\n    colour: red\n', /^scanners\[0\]\.colour: unknown key$/m);
  });

  test('an absolute path and a default export work too', async () => {
    const absolute = path.join(dir, 'conf', 'default-export.mjs');
    const config = await load(`plugins: [${JSON.stringify(absolute)}]\nscanners:\n  - type: custom\n`);
    assert.equal(config.scanners[0]!.type, 'custom');
  });

  test('without the plugin its type is unknown', async () => {
    await loadFails('scanners:\n  - type: custom\n', /unknown scanner type "custom"/);
  });

  test('a module that exports no scanner factory is a clear error naming it', async () => {
    await loadFails('plugins: [./empty.mjs]\n', /plugins\[0\]: \.\/empty\.mjs exports no scanner factory/);
    await loadFails('plugins: [./custom.mjs, ./half.mjs]\n', /plugins\[1\]: \.\/half\.mjs exports no scanner factory/);
  });

  test('a plugin that cannot be loaded names itself and the reason', async () => {
    await loadFails('plugins: [./missing.mjs]\n', /plugins\[0\]: cannot load \.\/missing\.mjs/);
    await loadFails('plugins: [./throws.mjs]\n', /plugins\[0\]: cannot load \.\/throws\.mjs: plugin exploded/);
  });

  test('a plugin may not take the name of a built-in type, nor of another plugin', async () => {
    const file = path.join(dir, 'conf', `config-${++files}.yaml`);
    await writeFile(file, 'plugins: [./custom.mjs]\n');
    const builtin = new Map([['custom', { type: 'custom' } as never]]);
    await assert.rejects(loadConfig(file, builtin, {}), /plugins\[0\]: scanner type "custom" is already defined/);
    await loadFails('plugins: [./custom.mjs, ./default-export.mjs]\n', /plugins\[1\]: scanner type "custom" is already defined/);
  });
});
