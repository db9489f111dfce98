// The peers of issue 13 in docs/benchmarks.md: the proxy beside ClamSMTP (clamd only) and beside
// Haraka with the same real engines (clamd + Rspamd), and the issue's targets for them.
import { CLAMSMTP_MAX_CONNECTIONS } from './clamsmtp.mjs';
import { rowProblems } from './row-problems.mjs';
import { HARAKA_PLUGINS } from './targets.mjs';

const MB = 2 ** 20;
const f0 = (x) => (x == null || Number.isNaN(x) ? '–' : Math.round(x).toLocaleString('en-US'));
const f1 = (x) => (x == null || Number.isNaN(x) ? '–' : Math.abs(x) >= 1000 ? f0(x) : x.toFixed(1));
const f2 = (x) => (x == null || Number.isNaN(x) ? '–' : x.toFixed(2));
const fr = (x) => (x == null || Number.isNaN(x) ? '–' : x < 100 ? x.toFixed(1) : f0(x));
const times = (a, b) => (a == null || b == null || !b ? null : a / b);
const fx = (x) => (x == null ? '–' : `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}×`);
const verdict = (ok) => (ok == null ? 'not measured' : ok ? '**met**' : '**not met**');
const NAMES = { proxy: 'smtp-scan-proxy', clamsmtp: 'ClamSMTP', haraka: 'Haraka' };
const server = (key) => NAMES[key] ?? key.replace(/^proxy@(\w+)=(\w+)$/, 'smtp-scan-proxy, $1: $2');
/** The proxy's extra rows (proxy@workers=N) beside the default one. */
const proxyVariants = (rows) => Object.keys(rows).filter((k) => k.startsWith('proxy@'));

/**
 * msg/s of a row: smtp-source's when it ran, else the Node client's. smtp-source stopped at the
 * scenario's time cap still counted what it completed (its counter is flushed per message), so
 * that rate over the cap is a measurement too, marked `capped`.
 */
export function peerRate(row) {
  if (!row || row.skipped) return { rate: null };
  const src = row.source;
  if (src) {
    if (!src.error) return { rate: src.msgPerSec };
    if (src.timedOut && src.completed > 0) return { rate: src.completed / src.seconds, capped: true };
    return { rate: null };
  }
  const cli = row.client;
  return { rate: cli && !cli.error && cli.msgPerSec ? cli.msgPerSec : null };
}

function regimeRows(scenario) {
  return Object.entries(scenario?.regimes ?? {}).map(([key, reg]) => ({ key, ...reg }));
}

export function peerTargets(res) {
  const out = [];
  const cs = res.scenarios.clamsmtp;
  for (const reg of regimeRows(cs)) {
    const p = reg.rows.proxy;
    const c = reg.rows.clamsmtp;
    const pr = peerRate(p);
    const cr = peerRate(c);
    const pc = p?.cpuMsPerMsg;
    const cc = c?.cpuMsPerMsg;
    const alt = (fmt) => proxyVariants(reg.rows).map((k) => ` (${k.slice(6).replace('=', ': ')}: ${fmt(reg.rows[k])})`).join('');
    out.push([
      `clamd only, ${reg.name}: proxy CPU per message ≤ ClamSMTP's`,
      pc != null && cc != null ? `${f2(pc)} vs ${f2(cc)} ms = ${fx(times(pc, cc))}${alt((row) => `${f2(row.cpuMsPerMsg)} ms = ${fx(times(row.cpuMsPerMsg, cc))}`)}` : 'no data',
      verdict(pc != null && cc != null ? pc <= cc : null),
    ]);
    out.push([
      `clamd only, ${reg.name}: proxy msg/s ≥ 1.5× ClamSMTP's`,
      pr.rate != null && cr.rate != null
        ? `${fr(pr.rate)} vs ${fr(cr.rate)}${cr.capped ? ' (capped)' : ''} msg/s = ${fx(times(pr.rate, cr.rate))}${alt((row) => `${fr(peerRate(row).rate)} = ${fx(times(peerRate(row).rate, cr.rate))}`)}`
        : 'no data',
      verdict(pr.rate != null && cr.rate != null ? pr.rate >= 1.5 * cr.rate : null),
    ]);
  }
  if (cs?.notRun) out.push(['clamd only: proxy vs ClamSMTP', `not run: ${cs.notRun}`, verdict(null)]);
  const en = res.scenarios.engines;
  for (const reg of regimeRows(en)) {
    const p = reg.rows.proxy?.client;
    const h = reg.rows.haraka?.client;
    const ok = p && h && !p.error && !h.error ? p.msgPerSec >= 2 * h.msgPerSec && p.p99 < h.p99 : null;
    out.push([
      `clamd + Rspamd, ${reg.name}: proxy msg/s ≥ 2× Haraka's, lower p99`,
      p && h ? `proxy ${fr(p.msgPerSec)} msg/s p99 ${f0(p.p99)} ms; Haraka ${fr(h.msgPerSec)} msg/s p99 ${f0(h.p99)} ms = ${fx(times(p.msgPerSec, h.msgPerSec))}` : 'no data',
      verdict(ok),
    ]);
  }
  if (en?.notRun) out.push(['clamd + Rspamd: proxy vs Haraka', `not run: ${en.notRun}`, verdict(null)]);
  return out;
}

function problems(who, row) {
  return rowProblems(row).map((x) => `- ${server(who)}: ${x}`);
}

function heading(reg) {
  return `### ${reg.name}: ${reg.sessions} sessions, ${reg.reuse ? 'connections reused' : 'a new connection per message'}`;
}

function clamsmtpSection(cs, s) {
  const L = ['## clamd only: smtp-scan-proxy and ClamSMTP', ''];
  if (cs.notRun) return [...L, `Not run: ${cs.notRun}.`, ''];
  L.push(
    `ClamSMTP ${cs.version ?? ''} (Debian's \`clamsmtp\`) started by the bench from its own config: \`Action: bounce\` (a virus gets a 5xx, as from the proxy; Debian's default drops it after a 250), ` +
      `\`Header:\` empty, \`MaxConnections: ${CLAMSMTP_MAX_CONNECTIONS}\`, the project's clamd, the bench's smtp-sink as \`OutAddress\`. The proxy: the clamav entry of the real scenario alone. ` +
      `Load: smtp-source, ${f0(s.clamsmtpMessages)} messages per cell, each cell stopped after ${s.clamsmtpSeconds} s at most; a "capped" rate is the messages completed over those seconds. ` +
      'With a new connection per message from 200 sessions ClamSMTP collapses to a few messages a second (with 5 sessions it did ~100 msg/s here): its listen backlog of 5, fixed in its code, ' +
      'overflows (the kernel\'s ListenOverflows counter rises) and a dropped SYN waits a second or more for its retransmit; while that happens smtp-source was seen with one connect in flight and at most 7 connections open, ' +
      'so the drop stalls the whole load generator, not one sender: the figure measures the backlog against this load, and independent senders would each wait instead. ' +
      "CPU ms/msg: user+system CPU of the server's processes (the proxy's supervisor and workers; ClamSMTP's one threaded process) per message completed; clamd's own CPU is not in it.",
    '',
  );
  for (const reg of regimeRows(cs)) {
    const c = reg.rows.clamsmtp;
    const cr = peerRate(c).rate;
    L.push(
      heading(reg),
      '',
      '| server | msg/s (smtp-source) | completed | sink got | RSS peak MB | processes | CPU ms/msg | msg/s vs ClamSMTP | CPU/msg vs ClamSMTP |',
      '|---|--:|--:|--:|--:|--:|--:|--:|--:|',
    );
    const notes = [];
    for (const who of ['proxy', ...proxyVariants(reg.rows), 'clamsmtp']) {
      const row = reg.rows[who];
      if (!row) continue;
      const r = peerRate(row);
      L.push(
        `| ${server(who)} | ${fr(r.rate)}${r.capped ? ' (capped)' : ''} | ${f0(row.source?.completed)}/${f0(reg.messages)} | ${row.sinkReceived ?? '–'} | ${f0(row.rssPeak / MB)} | ${row.processes ?? '–'} | ` +
          `${f2(row.cpuMsPerMsg)} | ${fx(times(r.rate, cr))} | ${fx(times(row.cpuMsPerMsg, c?.cpuMsPerMsg))} |`,
      );
      notes.push(...problems(who, row).filter((x) => !(r.capped && / timed out /.test(x))));
    }
    if (notes.length) L.push('', ...notes);
    L.push('');
  }
  for (const [who, e] of Object.entries(cs.errors ?? {})) L.push(`${server(who)} did not run: \`${e.split('\n')[0]}\``, '');
  return L;
}

function enginesSection(en, s) {
  const L = ['## Real engines: clamd + Rspamd, smtp-scan-proxy and Haraka', ''];
  if (en.notRun) return [...L, `Not run: ${en.notRun}.`, ''];
  L.push(
    'The set-up people would pick now, the same engines behind both: the project\'s clamd and private Rspamd 3.4 (`scripts/services.sh`, shared with other work on the machine). ' +
      'Proxy: clamav `concurrency: 8` and rspamd `concurrency: 5` (the real scenario\'s "clamd + Rspamd" row: the rest wait in its queue), Rspamd\'s default thresholds. ' +
      `Haraka ${s.harakaNodes ? `(\`nodes=${s.harakaNodes}\`)` : ''}: plugins \`${HARAKA_PLUGINS['real-rspamd'].join(', ')}\`; haraka-plugin-rspamd with \`[check] local_ip=true, private_ip=true\` ` +
      '(it skips loopback and private clients by default, and every bench client is 127.0.0.1), `[defer] error/timeout=true`, hook timeout 120 s; Haraka sends every message to Rspamd at once (no concurrency limit). ' +
      `The Node client sends ${f0(s.enginesMessages)} messages per cell.`,
    '',
  );
  for (const reg of regimeRows(en)) {
    const h = reg.rows.haraka?.client;
    L.push(
      heading(reg),
      '',
      '| server | msg/s | p50 ms | p99 ms | 2xx/4xx/5xx/err | sink got | RSS peak MB | processes | CPU ms/msg | msg/s vs Haraka | p99 vs Haraka |',
      '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
    );
    const notes = [];
    for (const who of ['proxy', 'haraka']) {
      const row = reg.rows[who];
      if (!row) continue;
      const c = row.client;
      const n = c?.counts;
      L.push(
        `| ${server(who)} | ${fr(c?.msgPerSec)} | ${f1(c?.p50)} | ${f1(c?.p99)} | ${n ? `${n['2xx']}/${n['4xx']}/${n['5xx']}/${n.error + n.other}` : '–'} | ${row.sinkReceived ?? '–'} | ` +
          `${f0(row.rssPeak / MB)} | ${row.processes ?? '–'} | ${f2(row.cpuMsPerMsg)} | ${fx(times(c?.msgPerSec, h?.msgPerSec))} | ${fx(times(c?.p99, h?.p99))} |`,
      );
      notes.push(...problems(who, row));
    }
    if (notes.length) L.push('', ...notes);
    L.push('');
  }
  for (const [who, e] of Object.entries(en.errors ?? {})) L.push(`${server(who)} did not run: \`${e.split('\n')[0]}\``, '');
  return L;
}

export function peerSections(res) {
  const L = [];
  if (res.scenarios.clamsmtp) L.push(...clamsmtpSection(res.scenarios.clamsmtp, res.settings));
  if (res.scenarios.engines) L.push(...enginesSection(res.scenarios.engines, res.settings));
  return L;
}
