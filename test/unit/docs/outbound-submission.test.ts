import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { parseConfig } from '../../../src/config/load.js';
import { builtinScanners } from '../../../src/scan/builtin.js';

const root = path.resolve(import.meta.dirname, '../../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

/** The first fenced block after `heading` in `text`, without its fence line. */
function blockAfter(text: string, heading: string, fence: string): string {
  const start = text.indexOf(`${fence}\n`, text.indexOf(heading));
  assert.ok(text.includes(heading) && start !== -1, `no ${fence} block after ${heading}`);
  return text.slice(start + fence.length + 1, text.indexOf('```', start + fence.length));
}

test("docs/outbound.md's Postfix submission lines are the tested template's", () => {
  const doc = blockAfter(read('docs/outbound.md'), '**Postfix behind a submission listener.**', '```');
  // The template's placeholders as scripts/services.sh fills them with its default ports.
  const template = read('scripts/templates/postfix-master.cf')
    .replaceAll('@POSTFIX_SUBMISSION_LISTEN@', '127.0.0.1:10587')
    .replaceAll('@SSP_DOVECOT_PORT@', '10112');
  const normal = (line: string) => line.trim().replace(/\s+/g, ' ');
  const templateLines = new Set(template.split('\n').map(normal));
  const lines = doc.split('\n').filter((line) => line.trim());
  assert.ok(lines.length >= 8);
  for (const line of lines) assert.ok(templateLines.has(normal(line)), `not in the template: ${line}`);
});

test("the README's Outbound example is a valid config with an inbound and two submission listeners", () => {
  const config = parseConfig(parse(blockAfter(read('README.md'), '## Outbound', '```yaml')), builtinScanners);
  assert.deepEqual(
    config.listeners.map((listener) => [listener.port, listener.role, listener.tls ?? 'starttls', listener.auth?.type]),
    [[25, 'inbound', 'starttls', undefined], [587, 'submission', 'starttls', 'upstream'], [465, 'submission', 'implicit', 'file']],
  );
});
