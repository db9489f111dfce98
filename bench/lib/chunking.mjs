// BDAT beside DATA (issue 13 item 2). smtp-sink offers no CHUNKING, so the pass-through rows
// always measure DATA; here the pass-through proxy relays to the test Postfix's port with
// first-install defaults (SSP_POSTFIX_OPEN_PORT from scripts/services.sh: it relays for
// 127.0.0.0/8, into its discard transport, so no mailbox fills up), once with
// upstream.chunking: auto (each message one BDAT <size> LAST) and once with off (DATA,
// dot-stuffed), on the same load. Postfix's own CPU is not counted: the proxy's processes only.
import { nodeClient } from './load.mjs';
import { cpuSeconds } from './procs.mjs';

const MODES = [
  ['BDAT', 'auto'],
  ['DATA', 'off'],
];

/** A recipient in a domain the test Postfix relays (and discards), never one of its mailboxes. */
const RCPT = 'bench@relay.example.net';

export async function chunkingScenario({ regimes, startProxy, postfixPort, size, timeoutMs, log }) {
  const out = { postfixPort, size, regimes: {} };
  for (const r of regimes) out.regimes[r.key] = { name: r.name, sessions: r.sessions, messages: r.messages, reuse: r.reuse, rows: {} };
  for (const [command, chunking] of MODES) {
    let proxy;
    try {
      proxy = await startProxy({ port: postfixPort, extra: { upstream: { chunking } }, name: `proxy-chunking-${chunking}` });
    } catch (e) {
      out.error = String(e.message ?? e).split('\n')[0];
      log(`chunking: proxy did not start: ${out.error}`);
      return out;
    }
    try {
      for (const r of regimes) {
        const cpu0 = cpuSeconds(proxy.proc.pid);
        const client = await nodeClient({ port: proxy.port, sessions: r.sessions, messages: r.messages, size, reuse: r.reuse, to: RCPT, timeoutMs });
        const cpu = cpuSeconds(proxy.proc.pid) - cpu0;
        const done = client.counts?.['2xx'] ?? 0;
        const row = { done, msgPerSec: client.msgPerSec, p50: client.p50, p99: client.p99, cpuMsPerMsg: done ? (cpu * 1000) / done : null, error: client.error };
        out.regimes[r.key].rows[command] = row;
        log(`chunking/${r.key}/${command}: ${done}/${r.messages} ${client.msgPerSec?.toFixed(0)} msg/s p99 ${client.p99?.toFixed(1)} ms, proxy CPU ${row.cpuMsPerMsg?.toFixed(2)} ms/msg${client.error ? ` (${client.error})` : ''}`);
      }
    } finally {
      await proxy.stop();
    }
  }
  return out;
}

const fixed = (n, digits) => (typeof n === 'number' ? n.toFixed(digits) : '-');

/** The report's section: BDAT and DATA side by side per regime. */
export function renderChunking(scenario) {
  if (!scenario) return [];
  const L = ['## BDAT vs DATA to a real Postfix', ''];
  L.push(
    `The pass-through proxy (no scanners) relaying ${(scenario.size / 1024).toFixed(0)} KB messages to the test Postfix (port ${scenario.postfixPort}, which offers CHUNKING), ` +
      'with `upstream.chunking: auto` (one `BDAT <size> LAST` per message) and `off` (DATA, dot-stuffed). The Node client, ' +
      "msg/s with Postfix's queue on the same cores; CPU is the proxy's processes only.",
    '',
  );
  if (scenario.error) return [...L, `Not run: ${scenario.error}`, ''];
  L.push('| regime | sent with | msg/s | p50 ms | p99 ms | proxy CPU ms/msg |', '|---|---|---:|---:|---:|---:|');
  for (const regime of Object.values(scenario.regimes)) {
    for (const [command, row] of Object.entries(regime.rows)) {
      L.push(`| ${regime.name} (${regime.sessions} sessions) | ${command} | ${fixed(row.msgPerSec, 0)} | ${fixed(row.p50, 1)} | ${fixed(row.p99, 1)} | ${fixed(row.cpuMsPerMsg, 2)} |`);
    }
  }
  L.push('');
  return L;
}
