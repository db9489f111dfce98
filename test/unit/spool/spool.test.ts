import assert from 'node:assert/strict';
import { mkdtemp, readdir, readlink, rm } from 'node:fs/promises';
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
    return spool;
  }

  for (const [where, threshold] of [['memory', 1000], ['file', 4]] as const) {
    test(`gives each reader its own full stream and ranges (${where})`, async () => {
      const spool = await spoolOf(['hello ', 'spool ', 'world'], threshold);
      assert.equal(spool.size, 17);
      assert.equal(spool.inFile, where === 'file');
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
    assert.equal(first.inFile, false);
    assert.equal(budget.inUse, 8);
    const second = await spoolOf(['abcdef'], 1000, budget);
    assert.equal(second.inFile, true);
    await first.dispose();
    await second.dispose();
    assert.equal(budget.inUse, 0);
  });

  test('a message in a file has no name in the spool directory: readers read the handle it was written with', async () => {
    const spool = await spoolOf(['0123456789', 'abcdef'], 2);
    assert.equal(spool.inFile, true);
    assert.deepEqual(await readdir(dir), []);
    const open = await openSpoolFiles();
    assert.equal(open.length, 1, `one deleted file of ${dir} open: ${open.join(', ')}`);
    const [whole, middle] = await Promise.all([read(spool.createReadStream()), read(spool.createReadStream({ start: 8, end: 12 }))]);
    assert.equal(whole, '0123456789abcdef');
    assert.equal(middle, '89ab');
    await spool.dispose();
    assert.deepEqual(await openSpoolFiles(), [], 'dispose closes the file');
  });

  test('a reader still running when the spool is disposed of ends, and the file is closed', async () => {
    const spool = await spoolOf(['x'.repeat(600 * 1024)], 2);
    const stream = spool.createReadStream();
    stream.once('data', () => void spool.dispose());
    await assert.rejects(read(stream));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(await openSpoolFiles(), []);
  });

  /** This process's open files that were in the spool dir: `<dir>/msg-... (deleted)`. */
  async function openSpoolFiles(): Promise<string[]> {
    const targets = await Promise.all((await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
    return targets.filter((target) => target.startsWith(`${dir}/msg-`));
  }

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
