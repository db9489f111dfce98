import { services } from '../helpers/services.js';
import { describeScanningScenarios } from '../scenarios/run-scanning.js';

describeScanningScenarios('scanning scenarios against native clamd, spamd and Postfix', async () => ({
  clamd: { host: '127.0.0.1', port: services.clamdPort },
  spamd: { host: '127.0.0.1', port: services.spamdPort },
  upstreamPort: services.postfixPort,
}));

// The same table with Rspamd in place of SpamAssassin: one line of the scanner config changes.
const rspamdPort = Number(process.env.SSP_RSPAMD_PORT);
describeScanningScenarios(
  'scanning scenarios against native clamd, Rspamd and Postfix',
  async () => ({ clamd: { host: '127.0.0.1', port: services.clamdPort }, spamd: { host: '127.0.0.1', port: rspamdPort }, upstreamPort: services.postfixPort }),
  rspamdPort ? undefined : 'SSP_RSPAMD_PORT not set: run scripts/services.sh start rspamd',
  'rspamd',
);
