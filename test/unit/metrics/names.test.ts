import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { createMetrics, PREFIX } from '../../../src/metrics/registry.js';

const docs = path.resolve(import.meta.dirname, '../../../docs');
const NAME = new RegExp(`\\b${PREFIX}[a-z0-9_]*[a-z0-9]`, 'g');

/** Every series name the registry can expose: a histogram's _bucket, _sum and _count too. */
async function definedNames(): Promise<{ all: Set<string>; own: string[] }> {
  const metrics = createMetrics({ defaults: true });
  const own = (await createMetrics({ defaults: false }).registry.getMetricsAsJSON()).map((metric) => metric.name);
  try {
    const all = new Set<string>();
    for (const metric of await metrics.registry.getMetricsAsJSON()) {
      all.add(metric.name);
      if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) all.add(metric.name + suffix);
    }
    return { all, own };
  } finally {
    metrics.close();
  }
}

function namesIn(text: string): Set<string> {
  return new Set(text.match(NAME) ?? []);
}

test('every metric the Grafana dashboard queries exists', async () => {
  const { all } = await definedNames();
  const dashboard = JSON.parse(readFileSync(path.join(docs, 'grafana/smtp-scan-proxy.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
  const queried = namesIn(dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr)).join('\n'));
  assert.ok(queried.size >= 15, `the dashboard queries the metrics (found ${queried.size})`);
  assert.deepEqual([...queried].filter((name) => !all.has(name)), []);
});

test('every metric docs/operations.md names exists, and every metric of the proxy is documented there', async () => {
  const { all, own } = await definedNames();
  const page = readFileSync(path.join(docs, 'operations.md'), 'utf8');
  const named = namesIn(page);
  assert.deepEqual([...named].filter((name) => !all.has(name)), []);
  assert.deepEqual(own.filter((name) => !named.has(name)), []);
});

test('names follow Prometheus conventions: the prefix, _total on counters, units as suffixes', async () => {
  const metrics = createMetrics({ defaults: false });
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    assert.ok(metric.name.startsWith(PREFIX), metric.name);
    assert.equal(String(metric.type) === 'counter', metric.name.endsWith('_total'), metric.name);
    if (String(metric.type) === 'histogram') assert.match(metric.name, /_seconds$/);
  }
  metrics.close();
});
