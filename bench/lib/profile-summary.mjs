// Summarizes .cpuprofile files (node --cpu-prof): the top functions by self time, and self
// time by package/file. Usage: node bench/lib/profile-summary.mjs FILE... [--top 25]
import { readFileSync } from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const topIdx = args.indexOf('--top');
const top = topIdx >= 0 ? Number(args.splice(topIdx, 2)[1]) : 25;
const callersIdx = args.indexOf('--callers');
const callersOf = callersIdx >= 0 ? args.splice(callersIdx, 2)[1] : null;

function where(url) {
  if (!url) return '(native/idle)';
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) return u.slice(nm + 13).split('/').slice(0, u.slice(nm + 13).startsWith('@') ? 2 : 1).join('/');
  if (u.startsWith('node:')) return u;
  const d = u.indexOf('/dist/');
  return d >= 0 ? u.slice(d + 1) : path.basename(u);
}

for (const file of args) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = prof.timeDeltas;
  for (let i = 0; i < prof.samples.length; i++) self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + (dt[i] ?? 0));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fn = new Map();
  const pkg = new Map();
  for (const [id, us] of self) {
    const n = byId.get(id);
    const cf = n.callFrame;
    const key = `${cf.functionName || '(anonymous)'} ${where(cf.url)}:${cf.lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const p = cf.url ? where(cf.url) : cf.functionName;
    pkg.set(p, (pkg.get(p) ?? 0) + us);
  }
  const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  console.log(`\n== ${path.basename(file)}: ${(total / 1e6).toFixed(2)} s sampled`);
  console.log('-- self time by package/file');
  for (const [k, us] of [...pkg].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)}  ${k}`);
  console.log('-- top functions by self time');
  for (const [k, us] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)}  ${k}`);
  if (callersOf) {
    const parent = new Map();
    for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const stacks = new Map();
    for (const [id, us] of self) {
      const n = byId.get(id);
      if (n.callFrame.functionName !== callersOf) continue;
      const chain = [];
      let p = parent.get(id);
      while (p !== undefined && chain.length < 14) {
        const cf = byId.get(p).callFrame;
        chain.push(`${cf.functionName || '(anon)'}@${where(cf.url)}:${cf.lineNumber + 1}`);
        if (/dist\/|smtp-server/.test(cf.url ?? "")) break;
        p = parent.get(p);
      }
      const key = chain.join(' < ');
      stacks.set(key, (stacks.get(key) ?? 0) + us);
    }
    console.log(`-- callers of ${callersOf}`);
    for (const [k, us] of [...stacks].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`${pct(us)}  ${k}`);
  }
}

// --callers NAME: who calls the native function NAME (stack up to the first frame in dist/ or smtp-server).
