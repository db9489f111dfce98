import { spamassassinScanner } from '../../scanners/spamassassin/index.js';
import { fixture } from '../scenarios/scanning-scenarios.js';
import { describeAdapterConformance } from './kit.js';

// Needs the private spamd of scripts/services.sh (eval "$(scripts/services.sh env)").
const port = Number(process.env.SSP_SPAMD_PORT);

describeAdapterConformance({
  title: 'spamassassin',
  factory: spamassassinScanner,
  skip: port ? undefined : 'SSP_SPAMD_PORT not set: run scripts/services.sh start and eval "$(scripts/services.sh env)"',
  working: () => ({ host: '127.0.0.1', port }),
  unavailable: (free) => ({ 'free port': { host: free.host, port: free.port }, 'missing socket': { socket: free.missingSocket } }),
  hung: (engine) => ({ host: engine.host, port: engine.port }),
  // fixture() puts today's date in, so the clean sample is not scored as old mail
  samples: { clean: () => fixture('clean.eml'), positive: () => fixture('gtube.eml') },
  positive: { kind: 'spam', minScore: 1000 },
  // spamd scores an empty message like any other (Content-length: 0): a score, not an error.
  empty: 'scored',
});
