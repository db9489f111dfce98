import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MemoryBudget } from '../../../src/spool/memory-budget.js';
import { Spool } from '../../../src/spool/spool.js';

async function read(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

describe('Spool', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ssp-spool-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function spoolOf(parts: string[], memoryPerMessage: number, budget = new MemoryBudget(1 << 20)) {
    const spool = new Spool({ dir, memoryPerMessage, budget });
    for (const part of parts) await spool.write(Buffer.from(part));
    await spool.end();
    return spool;
  }

  for (const [where, threshold] of [['memory', 1000], ['file', 4]] as const) {
    test(`gives each reader its own full stream and ranges (${where})`, async () => {
      const spool = await spoolOf(['hello ', 'spool ', 'world'], threshold);
      assert.equal(spool.size, 17);
      assert.equal(spool.filePath !== undefined, where === 'file');
      const [a, b] = await Promise.all([read(spool.createReadStream()), read(spool.createReadStream())]);
      assert.equal(a, 'hello spool world');
      assert.equal(b, a);
      assert.equal(await read(spool.createReadStream({ start: 3, end: 13 })), 'lo spool w');
      assert.equal(await read(spool.createReadStream({ start: 17 })), '');
      await spool.dispose();
    });
  }

  test('moves to a file when the shared budget is used up, and gives the budget back', async () => {
    const budget = new MemoryBudget(10);
    const first = await spoolOf(['12345678'], 1000, budget);
    assert.equal(first.filePath, undefined);
    assert.equal(budget.inUse, 8);
    const second = await spoolOf(['abcdef'], 1000, budget);
    assert.notEqual(second.filePath, undefined);
    await first.dispose();
    await second.dispose();
    assert.equal(budget.inUse, 0);
  });

  test('dispose removes the temp file', async () => {
    const spool = await spoolOf(['0123456789'], 2);
    const file = spool.filePath!;
    assert.ok(existsSync(file));
    await spool.dispose();
    assert.ok(!existsSync(file));
    assert.deepEqual(await readdir(dir), []);
  });

  test('an unwritable spool directory is a SpoolError with a 4xx reply', async () => {
    // A path below a regular file: unwritable even for root.
    const spool = new Spool({ dir: '/etc/passwd/spool', memoryPerMessage: 1, budget: new MemoryBudget(0) });
    await assert.rejects(spool.write(Buffer.from('abc')), (error: { code: string; reply: { code: number } }) => {
      assert.equal(error.code, 'SSP_ERR_SPOOL');
      assert.equal(Math.floor(error.reply.code / 100), 4);
      return true;
    });
    await spool.dispose();
  });
});
