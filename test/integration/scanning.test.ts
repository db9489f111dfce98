import { services } from '../helpers/services.js';
import { describeScanningScenarios } from '../scenarios/run-scanning.js';

describeScanningScenarios('scanning scenarios against native clamd, spamd and Postfix', async () => ({
  clamd: { host: '127.0.0.1', port: services.clamdPort },
  spamd: { host: '127.0.0.1', port: services.spamdPort },
  upstreamPort: services.postfixPort,
}));

// The same table with Rspamd in place of SpamAssassin: one line of the scanner config changes.
describeScanningScenarios(
  'scanning scenarios against native clamd, Rspamd and Postfix',
  async () => ({ clamd: { host: '127.0.0.1', port: services.clamdPort }, spamd: { host: '127.0.0.1', port: services.rspamdPort }, upstreamPort: services.postfixPort }),
  undefined,
  'rspamd',
);
