import { Readable } from 'node:stream';
import { clamavScanner } from './index.js';
const mk = (b: Buffer, piece: number) => ({ size: b.length, createReadStream: () => { const parts: Buffer[] = []; for (let i = 0; i < b.length; i += piece) parts.push(b.subarray(i, i + piece)); return Readable.from(parts); } });
const big = Buffer.alloc(4e6, 65);
for (const [label, opts] of [['tcp', { port: 23310 }], ['unix', { socket: '/tmp/ssp-cap.j7k0/clamd.sock' }]] as const) {
  for (const chunkSize of [4096, 65536, 1 << 20]) {
    const s = clamavScanner.create(clamavScanner.options.parse(opts) as any, { name: 'c', logger: {} as any });
    const counts: Record<string, number> = {};
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) { const v = await s.scan(mk(big, 1 << 20), AbortSignal.timeout(5000)); const k = v.kind === 'error' ? v.error + ':' + v.detail.slice(40) : v.kind; counts[k] = (counts[k] ?? 0) + 1; }
    console.log(label, chunkSize, counts, ((performance.now() - t0) / 1000).toFixed(2), 'ms/scan');
  }
}
