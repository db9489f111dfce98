import { clamavScanner } from '../../scanners/clamav/index.js';
import { fixture } from '../scenarios/scanning-scenarios.js';
import { describeAdapterConformance } from './kit.js';

// Needs the private clamd of scripts/services.sh (eval "$(scripts/services.sh env)").
const port = Number(process.env.SSP_CLAMD_PORT);
const socket = process.env.SSP_CLAMD_SOCKET;
const skip = port ? undefined : 'SSP_CLAMD_PORT not set: run scripts/services.sh start and eval "$(scripts/services.sh env)"';

describeAdapterConformance({
  title: 'clamav over TCP',
  factory: clamavScanner,
  skip,
  working: () => ({ host: '127.0.0.1', port }),
  unavailable: (free) => ({ 'free port': { host: free.host, port: free.port } }),
  hung: (engine) => ({ host: engine.host, port: engine.port }),
  samples: { clean: () => fixture('clean.eml'), positive: () => fixture('eicar-attachment.eml') },
  positive: { kind: 'infected', signature: /^Eicar-Test-Signature/ },
  // An empty INSTREAM (only the terminator) is a valid scan: clamd says "stream: OK".
  empty: 'clean',
});

describeAdapterConformance({
  title: 'clamav over its unix socket',
  factory: clamavScanner,
  skip: socket ? undefined : 'SSP_CLAMD_SOCKET not set: run scripts/services.sh start and eval "$(scripts/services.sh env)"',
  working: () => ({ socket }),
  samples: { clean: () => fixture('clean.eml'), positive: () => fixture('eicar-zip.eml') },
  positive: { kind: 'infected', signature: /^Eicar-Test-Signature/ },
  unavailable: (free) => ({ 'missing socket': { socket: free.missingSocket } }),
  hung: (engine) => ({ socket: engine.path }),
  hungOn: 'unix',
  empty: 'clean',
});
