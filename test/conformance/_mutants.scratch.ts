import net from 'node:net';
import { z } from 'zod';
import type { ScannerFactory } from '../../src/scan/registry.js';
import { clean, scanError } from '../../src/scan/verdict.js';
import { fixture } from '../scenarios/scanning-scenarios.js';
import { describeAdapterConformance } from './kit.js';

const options = z.strictObject({ port: z.number(), mode: z.string() });
// A deliberately bad network adapter: modes pick the defect.
const bad: ScannerFactory<{ port: number; mode: string }> = {
  type: 'bad',
  options: options as never,
  create({ port, mode }, ctx) {
    return {
      name: ctx.name, type: 'bad',
      scan: (message, signal) => new Promise((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1');
        const stream = message.createReadStream();
        stream.on('data', (d) => socket.write(d));
        stream.on('end', () => socket.end());
        socket.on('error', (e) => (mode === 'throws' ? reject(e) : resolve(scanError('unavailable', e.message))));
        socket.on('data', () => resolve(clean));
        signal.addEventListener('abort', () => {
          resolve(scanError('timeout', 'x'));
          if (mode !== 'holds') { socket.destroy(); stream.destroy(); }
        });
        if (mode === 'alwaysclean') resolve(clean);
      }),
    };
  },
};
for (const mode of ['holds', 'throws', 'alwaysclean']) {
  describeAdapterConformance({
    title: `MUTANT ${mode}`,
    factory: bad,
    working: () => ({ port: Number(process.env.SSP_CLAMD_PORT), mode }),
    unavailable: (free) => ({ 'free port': { port: free.port, mode } }),
    hung: (e) => ({ port: e.port, mode }),
    samples: { clean: () => fixture('clean.eml'), positive: () => fixture('gtube.eml') },
    positive: { kind: 'banned' },
    empty: 'error',
  });
}
