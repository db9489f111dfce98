import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as errors from '../../src/errors.js';
import * as replyTable from '../../src/smtp/replies.js';

/**
 * docs/errors.md is the operator's list of every stable error code and every reply the proxy
 * makes up; this keeps it from drifting away from the code in either direction.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));
const doc = readFileSync(path.join(root, 'docs/errors.md'), 'utf8');

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

// Only quoted codes count: a comment that mentions "SSP_ERR_*" defines nothing.
function codesInSource(): Set<string> {
  const codes = new Set<string>();
  for (const file of [...sourceFiles('src'), ...sourceFiles('scanners')]) {
    for (const match of readFileSync(file, 'utf8').matchAll(/['"`](SSP_ERR_[A-Z_]+)['"`]/g)) codes.add(match[1]!);
  }
  return codes;
}

/** The rows of the table under `## heading`: cells without their outer pipes, header row skipped. */
function tableUnder(heading: string): string[][] {
  const start = doc.indexOf(`\n## ${heading}\n`);
  assert.notEqual(start, -1, `docs/errors.md has no "## ${heading}" section`);
  const end = doc.indexOf('\n## ', start + 1);
  const rows = doc
    .slice(start, end === -1 ? undefined : end)
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .map((line) => line.slice(1, -1).split(' | ').map((cell) => cell.trim()));
  return rows.slice(2);
}

const firstCellName = (row: string[]) => /^`([^`]+)`$/.exec(row[0]!)?.[1];

function assertSameSet(documented: string[], actual: Set<string>, what: string): void {
  const missing = [...actual].filter((name) => !documented.includes(name)).sort();
  const stale = documented.filter((name) => !actual.has(name)).sort();
  assert.deepEqual({ missing, stale }, { missing: [], stale: [] }, `${what}: missing = not in docs/errors.md, stale = no longer in the code`);
  assert.equal(new Set(documented).size, documented.length, `${what}: listed twice in docs/errors.md`);
}

describe('docs/errors.md', () => {
  const errorRows = tableUnder('Error codes');
  const replyRows = tableUnder("Replies of the proxy's own");
  const verdictRows = tableUnder('Verdict replies');

  test('lists every SSP_ERR_ code in src/ and scanners/, and no other', () => {
    const codes = codesInSource();
    assert.ok(codes.size >= 10, `only ${codes.size} codes found: is the scan still looking in the right place?`);
    assertSameSet(errorRows.map(firstCellName).filter((name) => name !== undefined), codes, 'error codes');
  });

  test('names an exported ProxyError class for each code', () => {
    for (const row of errorRows) {
      const className = /^`(\w+)`$/.exec(row[1] ?? '')?.[1];
      assert.ok(className, `no class in row ${row[0]}`);
      const exported = (errors as Record<string, unknown>)[className];
      assert.ok(typeof exported === 'function' && exported.prototype instanceof errors.ProxyError, `${className} is not a ProxyError class in src/errors.ts`);
    }
  });

  test('lists every reply of the replies table, and no other, with its code, enhanced code and text', () => {
    const table = replyTable.replies as Record<string, { code: number; enhanced?: string; text: string }>;
    assertSameSet(replyRows.map(firstCellName).filter((name) => name !== undefined), new Set(Object.keys(table)), 'replies');
    for (const row of replyRows) {
      const reply = table[firstCellName(row)!]!;
      assert.deepEqual(row.slice(1, 4), [String(reply.code), reply.enhanced, reply.text], `row of ${row[0]}`);
    }
  });

  test('lists every verdict reply function, and no other, with its code, enhanced code and text', () => {
    const builders = Object.entries(replyTable).filter(([name, value]) => typeof value === 'function' && name.endsWith('Reply'));
    assertSameSet(verdictRows.map(firstCellName).filter((name) => name !== undefined), new Set(builders.map(([name]) => name)), 'verdict replies');
    for (const row of verdictRows) {
      const build = (replyTable as unknown as Record<string, (...args: unknown[]) => { code: number; enhanced?: string }>)[firstCellName(row)!]!;
      const reply = build(1, 1) as { code: number; enhanced?: string; text: string };
      assert.deepEqual(row.slice(1, 3), [String(reply.code), reply.enhanced], `row of ${row[0]}`);
      // The doc writes what varies as *placeholder*; the rest must be the text as built.
      const pattern = row[3]!.split(/\*[^*]+\*/).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.+');
      assert.match(reply.text, new RegExp(`^${pattern}$`), `text of ${row[0]}`);
    }
  });

  test('the replies named in the error table are the ones those errors carry', () => {
    const table = replyTable.replies as Record<string, { code: number; enhanced?: string; text: string }>;
    for (const row of errorRows) {
      for (const [, name] of (row[2] ?? '').matchAll(/\(`(\w+)`\)/g)) {
        const reply = table[name!];
        assert.ok(reply, `${row[0]} names an unknown reply ${name}`);
        assert.ok(row[2]!.includes(`${reply.code} ${reply.enhanced} ${reply.text} (\`${name}\`)`), `${row[0]}: ${name} is shown with the wrong code or text`);
      }
    }
  });
});
