// Renders bench results (bench/.run/results.json) as docs/benchmarks.md.
import { failoverCheck, failoverSection, scannerFailoverCheck } from './failover.mjs';
import { renderChunking } from './chunking.mjs';
import { peerSections, peerTargets } from './peers-report.mjs';
import { rowProblems } from './row-problems.mjs';
import { HARAKA_PLUGINS } from './targets.mjs';

const MB = 2 ** 20;
const f0 = (x) => (x == null || Number.isNaN(x) ? '–' : Math.round(x).toLocaleString('en-US'));
const f1 = (x) => (x == null || Number.isNaN(x) ? '–' : Math.abs(x) >= 1000 ? f0(x) : x.toFixed(1));
const f2 = (x) => (x == null || Number.isNaN(x) ? '–' : x.toFixed(2));
const fr = (x) => (x == null || Number.isNaN(x) ? '–' : x < 100 ? x.toFixed(1) : f0(x));
const mb = (x) => (x == null ? '–' : f0(x / MB));
const ratio = (a, b) => (a == null || b == null || !b ? '–' : `${a / b >= 10 ? (a / b).toFixed(1) : (a / b).toFixed(2)}×`);
const SERVER = new Proxy(
  { direct: 'direct to smtp-sink', proxy: 'smtp-scan-proxy', 'proxy@rspamd': 'smtp-scan-proxy, clamd + Rspamd', haraka: 'Haraka' },
  { get: (t, k) => t[k] ?? String(k).replace(/^proxy@(\w+)=(\w+)$/, 'smtp-scan-proxy, $1: $2') },
);

/** The throughput figure of a row: smtp-source's msg/s when it ran cleanly, else the Node client's. */
export function rate(row) {
  if (!row || row.skipped) return null;
  if (row.source && !row.source.error) return row.source.msgPerSec;
  if (row.client && !row.client.error && row.client.msgPerSec) return row.client.msgPerSec;
  return null;
}

function replies(row) {
  const c = row.client?.counts;
  if (!c) return '–';
  return `${c['2xx']}/${c['4xx']}/${c['5xx']}/${c.error + c.other}`;
}

function throughputTable(scenario, { directRates, withSource, withDirect = true }) {
  const lines = [];
  for (const [key, reg] of Object.entries(scenario.regimes ?? {})) {
    const rows = reg.rows;
    const haraka = rate(rows.haraka);
    const direct = rate(rows.direct) ?? directRates?.[key] ?? null;
    lines.push(
      `### ${reg.name}: ${reg.sessions} sessions, ${reg.reuse ? `connections reused${withSource ? ' (smtp-source -d)' : ''}` : 'a new connection per message'}`,
      '',
      withSource
        ? `smtp-source sends ${f0(reg.messages)} messages, then the Node client ${f0(Object.values(rows)[0]?.clientMessages ?? reg.messages)} with the same sessions; "sink got" counts both.`
        : `The Node client sends ${f0(reg.messages)} messages.`,
      '',
      `| server |${withSource ? ' msg/s (smtp-source) |' : ''} msg/s (Node client) | p50 ms | p99 ms | Node client 2xx/4xx/5xx/err | sink got | RSS peak MB | processes | CPU ms/msg |${withDirect ? ' vs direct |' : ''} vs Haraka |`,
      `|---|${withSource ? '--:|' : ''}--:|--:|--:|--:|--:|--:|--:|--:|${withDirect ? '--:|' : ''}--:|`,
    );
    const problems = [];
    const order = ['direct', 'proxy', ...Object.keys(rows).filter((k) => k.startsWith('proxy@')), 'haraka'];
    for (const who of order) {
      const row = rows[who];
      if (!row) continue;
      const r = rate(row);
      const invalid = who === 'proxy' && scenario.proxyInvalid;
      lines.push(
        `| ${SERVER[who]}${invalid ? ' (scanners not run)' : ''} | ${withSource ? `${row.source ? fr(row.source.msgPerSec) : '–'}${row.source?.error ? ' ⚠' : ''} | ` : ''}` +
          `${row.client ? fr(row.client.msgPerSec) : '–'}${row.client?.error ? ' ⚠' : ''} | ${f1(row.client?.p50)} | ${f1(row.client?.p99)} | ${replies(row)} | ` +
          `${row.sinkReceived ?? '–'} | ${who === 'direct' ? 'n/a' : mb(row.rssPeak)} | ${who === 'direct' ? 'n/a' : row.processes ?? '–'} | ${who === 'direct' ? 'n/a' : f2(row.cpuMsPerMsg)} | ` +
          `${withDirect ? `${who === 'direct' ? '1.00×' : ratio(r, direct)} | ` : ''}${who === 'haraka' ? '1.00×' : ratio(r, haraka)} |`,
      );
      for (const p of rowProblems(row)) problems.push(`- ${SERVER[who]}: ${p}`);
    }
    if (withDirect && !rows.direct && directRates?.[key] != null) lines.push('', `"vs direct" divides by the pass-through direct figure (${f0(directRates[key])} msg/s): no scanner sits in front of a bare sink.`);
    if (problems.length) lines.push('', ...problems);
    lines.push('');
  }
  if (scenario.proxyError) lines.push(`smtp-scan-proxy did not run: \`${scenario.proxyError.split('\n')[0]}\``, '');
  if (scenario.harakaError) lines.push(`Haraka did not run: \`${scenario.harakaError.split('\n')[0]}\``, '');
  if (scenario.proxyInvalid) lines.push(`**The proxy's figures above are not a scanning result:** ${scenario.proxyInvalid}.`, '');
  return lines;
}

function verdict(ok) {
  return ok == null ? 'not measured' : ok ? '**met**' : '**not met**';
}

export function targets(res) {
  const out = [];
  const pass = res.scenarios.pass;
  for (const key of ['many', 'busy']) {
    const reg = pass?.regimes?.[key];
    const d = rate(reg?.rows.direct);
    const p = rate(reg?.rows.proxy);
    const h = rate(reg?.rows.haraka);
    const name = reg?.name ?? key;
    const others = Object.keys(reg?.rows ?? {})
      .filter((k) => k.startsWith('proxy@') && rate(reg.rows[k]) != null)
      .map((k) => ({ label: k.slice(6).replace('=', ': '), r: rate(reg.rows[k]) }));
    const alt = (base) => (others.length && base ? ` (${others.map((o) => `${o.label}: ${f0(o.r)} = ${base(o.r)}`).join('; ')})` : '');
    out.push([
      `pass-through, ${name}: proxy ≥ 50% of direct`,
      p != null && d != null ? `${f0(p)} vs ${f0(d)} msg/s = ${f0((100 * p) / d)}%${alt((x) => `${f0((100 * x) / d)}%`)}` : 'no data',
      verdict(p != null && d != null ? p >= 0.5 * d : null),
    ]);
    out.push([
      `pass-through, ${name}: proxy ≥ 3× Haraka`,
      p != null && h != null ? `${f0(p)} vs ${f0(h)} msg/s = ${ratio(p, h)}${alt((x) => ratio(x, h))}` : 'no data',
      verdict(p != null && h != null ? p >= 3 * h : null),
    ]);
  }
  const fake = res.scenarios.fake;
  const delays = [res.settings.fakeAvMs, res.settings.fakeSpamMs];
  const maxDelay = Math.max(...delays);
  const sumDelay = delays.reduce((a, b) => a + b, 0);
  for (const key of ['many', 'busy']) {
    const reg = fake?.regimes?.[key];
    const p = reg?.rows.proxy?.client?.p50;
    const h = reg?.rows.haraka?.client?.p50;
    const valid = p != null && !fake.proxyInvalid;
    out.push([
      `fake scanners ${delays.join(' + ')} ms, ${reg?.name ?? key}: proxy p50 close to ${maxDelay} ms (parallel), Haraka ≥ ${sumDelay} ms`,
      p != null ? `proxy p50 ${f1(p)} ms, Haraka p50 ${f1(h)} ms${fake.proxyInvalid ? ' (proxy: scanners not run)' : ''}` : 'no data',
      verdict(valid ? p <= maxDelay * 1.2 && (h == null || p < h) : null),
    ]);
  }
  const real = res.scenarios.real;
  for (const key of ['many', 'busy']) {
    const reg = real?.regimes?.[key];
    const p = reg?.rows.proxy?.client;
    const h = reg?.rows.haraka?.client;
    const ok = p && h && !p.error && !h.error ? p.msgPerSec >= h.msgPerSec && p.p99 < h.p99 : null;
    out.push([
      `real clamd + spamd, ${reg?.name ?? key}: proxy msg/s ≥ Haraka's, lower p99`,
      p && h ? `proxy ${f1(p.msgPerSec)} msg/s p99 ${f0(p.p99)} ms; Haraka ${f1(h.msgPerSec)} msg/s p99 ${f0(h.p99)} ms` : real?.notRun ? `not run: ${real.notRun}` : 'no data',
      verdict(ok),
    ]);
  }
  const idle = res.scenarios.idle?.rows?.proxy;
  out.push([
    'idle connections: ≤ 20 KB RSS each (proxy)',
    idle?.perConnection != null ? `${f1(idle.perConnection / 1024)} KB each (${f0(idle.ready)} held; Haraka ${f1(res.scenarios.idle.rows.haraka?.perConnection / 1024)} KB)` : idle?.error ?? 'no data',
    verdict(idle?.perConnection != null && idle.ready >= 0.99 * res.scenarios.idle.count ? idle.perConnection <= 20 * 1024 : null),
  ]);
  const big = res.scenarios.big?.rows;
  const bp = big?.proxy;
  const bh = big?.haraka;
  out.push([
    `${f0(res.settings.bigSize / 1e6)} MB message: proxy RSS growth ≤ 64 MB`,
    bp?.rssGrowth != null ? `+${mb(bp.rssGrowth)} MB` : bp?.error ?? 'no data',
    verdict(bp?.ok && bp.rssGrowth != null ? bp.rssGrowth <= 64 * MB : null),
  ]);
  out.push([
    `${f0(res.settings.bigSize / 1e6)} MB message: proxy ≥ 10× faster than Haraka`,
    bp?.seconds != null && bh?.seconds != null ? `proxy ${f2(bp.seconds)} s, Haraka ${f2(bh.seconds)} s = ${ratio(bh.seconds, bp.seconds)}` : 'no data',
    verdict(bp?.ok && bh?.ok ? bh.seconds / bp.seconds >= 10 : null),
  ]);
  const flood = res.scenarios.flood;
  const scans = flood?.floodScans ? Object.values(flood.floodScans).reduce((a, b) => a + b, 0) : null;
  out.push([
    'flood from listed clients: no upstream session and no scan for them (issue 9)',
    flood?.floodUpstreamSessions != null ? `${f0(flood.floodUpstreamSessions)} upstream sessions, ${scans ?? 'no count of'} scans` : flood?.error ?? 'no data',
    verdict(flood?.floodUpstreamSessions != null && scans != null ? flood.floodUpstreamSessions === 0 && scans === 0 : null),
  ]);
  for (const [what, measured, ok] of [failoverCheck(res.scenarios.failover), scannerFailoverCheck(res.scenarios.failoverScanners)]) out.push([what, measured, verdict(ok)]);
  out.push(...peerTargets(res));
  return out;
}

/** The flood scenario: what listed clients cost, and what they cost a legitimate sender. */
function floodSection(flood, settings) {
  const L = ['## Flood: listed clients and one legitimate sender (screening)', ''];
  if (flood.error) return [...L, `Did not run to the end: ${flood.error}`, ''];
  const fs = flood.settings;
  const refusedCpuMs = (flood.floodCpuSeconds * 1000) / fs.floodConnections;
  const scannedCpuMs = flood.legitAlone.delivered ? (flood.legitCpuSeconds * 1000) / flood.legitAlone.delivered : null;
  const outcomes = (o) => Object.entries(o).map(([code, n]) => `${f0(n)}× ${code}`).join(', ');
  L.push(
    `${f0(fs.floodConnections)} connections from ${fs.floodAddresses} addresses listed on \`block.test\` (${fs.listed}, the test rbldnsd at ${fs.dnsServer}), ` +
      `${fs.floodConcurrency} at a time, each trying a whole message (EHLO, MAIL, RCPT, DATA), while one sender at ${fs.legitFrom} ` +
      `delivers ${fs.legitMessages} messages of ${f0(fs.size / 1024)} KB, a connection each, through the fake scanners (${settings.fakeAvMs} + ${settings.fakeSpamMs} ms). ` +
      'The proxy runs with `screening: { dnsLists: { zones: [block.test, weight 2] } }` and the default action, `enforce`; ' +
      'a counting relay between the proxy and smtp-sink counts the upstream sessions.',
    '',
    '| run | legitimate delivered | p50 ms | p99 ms | flood replies | upstream sessions | scans | proxy CPU |',
    '|---|--:|--:|--:|---|--:|--:|--:|',
    `| flood alone | – | – | – | ${outcomes(flood.floodAlone)} | ${f0(flood.floodUpstreamSessions)} | ${JSON.stringify(flood.floodScans ?? {})} | ${f2(flood.floodCpuSeconds)} s: ${f2(refusedCpuMs)} ms per refused connection |`,
    `| legitimate alone | ${f0(flood.legitAlone.delivered)}/${f0(flood.legitAlone.requested)} | ${f1(flood.legitAlone.p50)} | ${f1(flood.legitAlone.p99)} | – | ${f0(flood.legitUpstreamSessions)} | – | ${f2(flood.legitCpuSeconds)} s: ${scannedCpuMs == null ? '–' : f2(scannedCpuMs)} ms per scanned message |`,
    `| legitimate under the flood | ${f0(flood.legitUnderFlood.delivered)}/${f0(flood.legitUnderFlood.requested)} | ${f1(flood.legitUnderFlood.p50)} | ${f1(flood.legitUnderFlood.p99)} | ${outcomes(flood.floodWithLegit)} | | | |`,
    '',
    scannedCpuMs && refusedCpuMs ? `A refused connection costs the proxy ${ratio(scannedCpuMs, refusedCpuMs)} less CPU than a scanned message (without the scanners' own CPU).` : '',
    '',
  );
  return L;
}

export function renderReport(res) {
  const m = res.machine;
  const s = res.settings;
  const L = [];
  const workers = s.proxyExtra?.workers;
  L.push(
    '# Benchmarks',
    '',
    `Generated by \`npm run bench\` (\`bench/run.mjs\`) on ${res.started.slice(0, 16).replace('T', ' ')} UTC in ${f0(res.seconds)} s. ` +
      'Every figure comes from the one run below: a shared machine is noisy, so compare the ratios, which were measured side by side. ' +
      'This file is rewritten by each run; edit `bench/lib/report.mjs` instead.',
    '',
    '## Machine and set-up',
    '',
    `- ${m.cores} × ${m.cpuModel}, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}, open files ${m.fdLimit}; ` +
      `1-minute load average ${m.loadAtStart?.[0] ?? '?'} before the run (other work on the same cores) and ${m.loadAtEnd?.[0] ?? '?'} after it`,
    `- smtp-scan-proxy ${m.proxyRevision}: \`node dist/src/cli.js --config bench/.run/proxy/<variant>.yaml\`, ` +
      `\`greetDelay: 0\`, \`reverseLookup: false\`, upstream without XCLIENT or STARTTLS, \`log.level: warn\`, ` +
      `${workers ? `\`workers: ${workers}\`` : '`workers` not set (the proxy\'s default: one worker per CPU, plus its supervisor)'}` +
      `${Object.keys(s.proxyExtra ?? {}).length ? `; extra config \`${JSON.stringify(s.proxyExtra)}\`` : ''}`,
    `- Haraka ${m.haraka}: \`nodes=${s.harakaNodes}\` (cluster workers; RSS and CPU are summed over master and workers), plugins:`,
    `  pass-through \`${HARAKA_PLUGINS.pass.join(', ')}\`; fake \`${HARAKA_PLUGINS.fake.join(', ')}\`; real \`${HARAKA_PLUGINS.real.join(', ')}\`.`,
    '  `no_rdns` answers `lookup_rdns` so Haraka does no DNS, like the proxy with `reverseLookup: false`.',
    `- Upstream: a private \`smtp-sink\` (Postfix ${m.postfix}) started by the bench; "sink got" is its own message counter. ` +
      `Load: \`smtp-source\` for msg/s, and the bench's Node client (\`bench/lib/smtp-client.mjs\`) for latency: the time from the final dot to the reply, ${f0(s.size / 1024)} KB text bodies.`,
    '- Load generators, sink and servers all share the same cores, so the "direct" ceiling also includes the load generator\'s own cost.',
    '- RSS peak: the highest sum of VmRSS over the server\'s processes, sampled every 100 ms and from VmHWM (reset before each cell). CPU ms/msg: the server\'s user+system CPU per relayed message.',
    '',
    '## Targets (issues 4 and 13)',
    '',
    '| target | measured | verdict |',
    '|---|---|---|',
  );
  for (const [t, v, ok] of targets(res)) L.push(`| ${t} | ${v} | ${ok} |`);
  L.push('');

  const directRates = {};
  const pass = res.scenarios.pass;
  if (pass) {
    for (const [k, reg] of Object.entries(pass.regimes)) directRates[k] = rate(reg.rows.direct);
    L.push('## Pass-through, no scanners', '', ...throughputTable(pass, { withSource: true }));
  }
  L.push(...renderChunking(res.scenarios.chunking));
  const fake = res.scenarios.fake;
  if (fake) {
    L.push(
      `## Fake scanners: ${s.fakeAvMs} ms "AV" + ${s.fakeSpamMs} ms "spam"`,
      '',
      `The proxy loads \`bench/fake-delay-scanner.mjs\` (\`plugins:\`) twice, as \`fake-av\` and \`fake-spam\`, and runs them in parallel. ` +
        `Haraka runs \`bench/haraka-plugins/fake_delay.js\` as two data_post plugins, one after the other. ` +
        `Scans counted by the proxy's fake scanners: ${fake.fakeScans ? '`' + JSON.stringify(fake.fakeScans) + '`' : 'none reported'}.`,
      '',
      ...throughputTable(fake, { directRates, withSource: true }),
    );
  }
  const real = res.scenarios.real;
  if (real) {
    L.push('## Real scanners: clamd + spamd, and clamd + Rspamd', '');
    if (real.notRun) L.push(`Not run: ${real.notRun}.`, '');
    else {
      L.push(
        'The project\'s clamd and spamd (`scripts/services.sh`), shared with whatever else runs on the machine (test suites use them too). spamd is CPU-bound at 4-9 msg/s on this machine, so each run sends only ' +
          `${s.realManyMessages} (many senders) and ${s.realBusyMessages} (busy relay) messages, with the Node client only. ` +
          'Proxy: clamav `concurrency: 8`, spamassassin `concurrency: 5`, `maxQueue: 1000` each (so queued messages wait rather than get a 4xx), timeouts 30 s and 60 s, `rejectScore: 10`. ' +
          'Haraka: clamd and spamassassin plugins with the same hosts, `reject_threshold=10`, `[defer] error/timeouts=true`, hook timeouts 60 s and 120 s (its default of 30 s would defer the messages that wait in spamd\'s queue).',
        '',
        'The row "clamd + Rspamd" is the proxy again on the same load with the spamassassin entry swapped for `rspamd` (the project\'s private Rspamd 3.4, ' +
          'two normal workers, network modules off and no Redis, so no Bayes: `scripts/lib/rspamd.sh`; spamd runs offline without Bayes too), `concurrency: 5`, its default thresholds (reject 15, tag 6); ' +
          'its "vs Haraka" still divides by Haraka with spamd.' +
          (real.rspamdNotRun ? ` Not run: ${real.rspamdNotRun}.` : ''),
        '',
        ...throughputTable(real, { directRates, withSource: false, withDirect: false }),
      );
    }
  }
  L.push(...peerSections(res));
  const idle = res.scenarios.idle;
  if (idle) {
    L.push(
      `## ${f0(idle.count)} idle connections`,
      '',
      `${idle.procs} client processes open the connections (at most 100 connects in flight each), wait for every banner and hold them; RSS is read 1.5 s after the last banner, the "before" figure after a warm-up of 20 messages.`,
      '',
      '| server | held | failed | RSS before MB | RSS holding MB | KB per connection | processes |',
      '|---|--:|--:|--:|--:|--:|--:|',
    );
    for (const who of ['proxy', 'haraka']) {
      const r = idle.rows[who];
      if (!r) continue;
      if (r.error || r.skipped) {
        L.push(`| ${SERVER[who]} | – | – | – | – | – | ${r.error ? `did not run: ${r.error.split('\n')[0]}` : r.skipped} |`);
        continue;
      }
      L.push(`| ${SERVER[who]} | ${f0(r.ready)} | ${f0(r.failed)} | ${mb(r.rssBefore)} | ${mb(r.rssDuring)} | ${f1(r.perConnection / 1024)} | ${r.processes} |`);
      if (r.failed) L.push('', `${SERVER[who]}: failures ${JSON.stringify(r.errors)}`, '');
    }
    L.push('');
  }
  const big = res.scenarios.big;
  if (big) {
    L.push(
      `## One ${f0(big.size / 1e6)} MB message (pass-through)`,
      '',
      'One session sends one text message of that size. Seconds: from the 354 reply to DATA until the final reply (upload and relay); "after the dot": from the last byte sent to the final reply. RSS growth: peak minus the RSS before the message.',
      '',
      '| server | relayed | seconds | after the dot s | RSS before MB | RSS peak MB | growth MB | vs Haraka (time) |',
      '|---|--:|--:|--:|--:|--:|--:|--:|',
    );
    const h = big.rows.haraka;
    for (const who of ['direct', 'proxy', 'haraka']) {
      const r = big.rows[who];
      if (!r) continue;
      if (r.error && r.ok === undefined) {
        L.push(`| ${SERVER[who]} | did not run: ${r.error.split('\n')[0]} | | | | | | |`);
        continue;
      }
      L.push(
        `| ${SERVER[who]} | ${r.ok ? 'yes' : `no: ${r.error ?? ''}`} | ${f2(r.seconds)} | ${f2(r.afterDotSeconds)} | ${mb(r.rssBefore)} | ${mb(r.rssPeak)} | ${mb(r.rssGrowth)} | ` +
          `${h?.ok && r.ok ? ratio(h.seconds, r.seconds) : '–'} |`,
      );
    }
    L.push('');
  }
  if (res.scenarios.flood) L.push(...floodSection(res.scenarios.flood, s));
  if (res.scenarios.failover) L.push(...failoverSection(res.scenarios.failover, res.scenarios.failoverScanners));
  if (res.notes.length) L.push('## Notes from this run', '', ...res.notes.map((n) => `- ${n}`), '');
  L.push(
    '## Running it',
    '',
    '```sh',
    'npm run bench                              # everything, about 5 minutes (10 at most)',
    'node bench/run.mjs --only pass --no-write  # one scenario, print the report only',
    'node bench/run.mjs --workers 1 --only pass # the proxy with workers: 1 (--compare-workers adds rows)',
    "node bench/run.mjs --proxy-config '{\"limits\":{\"greetDelay\":100}}' --only pass",
    'node bench/run.mjs --help                  # sizes, targets, time caps',
    '```',
    '',
    `Settings of this run: \`${JSON.stringify(s)}\`. Raw results: \`bench/.run/results.json\`; logs of every process: \`bench/.run/logs/\`.`,
    '',
  );
  return L.join('\n');
}
