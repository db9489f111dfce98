import { rspamdScanner } from '../../scanners/rspamd/index.js';
import { fixture } from '../scenarios/scanning-scenarios.js';
import { describeAdapterConformance } from './kit.js';

// Needs the private Rspamd of scripts/services.sh (eval "$(scripts/services.sh env)").
const port = Number(process.env.SSP_RSPAMD_PORT);

describeAdapterConformance({
  title: 'rspamd',
  factory: rspamdScanner,
  skip: port ? undefined : 'SSP_RSPAMD_PORT not set: run scripts/services.sh start rspamd and eval "$(scripts/services.sh env)"',
  working: () => ({ host: '127.0.0.1', port }),
  unavailable: (free) => ({ 'free port': { host: free.host, port: free.port }, 'missing socket': { socket: free.missingSocket } }),
  hung: (engine) => ({ host: engine.host, port: engine.port }),
  samples: { clean: () => fixture('clean.eml'), positive: () => fixture('gtube.eml') },
  // Rspamd answers GTUBE with its reject action at its reject score (15), not SpamAssassin's 1000.
  positive: { kind: 'spam', minScore: 15 },
  hamBelow: 6,
  // Rspamd scores an empty message like any other: a score, not an error.
  empty: 'scored',
});
