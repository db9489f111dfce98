import { attachmentsScanner } from '../../scanners/attachments/index.js';
import { fixture } from '../scenarios/scanning-scenarios.js';
import { describeAdapterConformance } from './kit.js';

// In-process: no engine, so no "unavailable" or "hung engine" cases; the kit's timeout check
// uses a message whose reader stalls instead.
describeAdapterConformance({
  factory: attachmentsScanner,
  working: () => ({}),
  samples: { clean: () => fixture('clean.eml'), positive: () => fixture('banned-attachment.eml') },
  positive: { kind: 'banned', reason: /setup\.exe/ },
  // No parts, nothing to ban.
  empty: 'clean',
});
