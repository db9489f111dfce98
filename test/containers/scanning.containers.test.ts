import { after } from 'node:test';
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers';
import { ClamavScanner } from '../../scanners/clamav/index.js';
import { SpamassassinScanner } from '../../scanners/spamassassin/index.js';
import { services } from '../helpers/services.js';
import { describeScanningScenarios } from '../scenarios/run-scanning.js';
import { CLAMD_DIR, clamdConfig, clamdDatabase } from './clamd-test-db.js';
import { suiteImages } from './images.js';
import { containerRuntimeMissing, waitFor } from './runtime.js';

/**
 * The shared scanning scenarios with clamd and spamd in containers (testcontainers) and the
 * native private Postfix of scripts/ as the upstream, whose mailboxes the scenarios read.
 * Skipped, with the reason, where no container runtime answers.
 */
const skip = await containerRuntimeMissing();

const started: StartedTestContainer[] = [];
after(async () => {
  await Promise.allSettled(started.map((container) => container.stop()));
});

type Endpoint = { host: string; port: number };

function endpoint(container: StartedTestContainer, port: number): Endpoint {
  const host = container.getHost();
  return { host: host === 'localhost' ? '127.0.0.1' : host, port: container.getMappedPort(port) };
}

/** The image's clamd with the EICAR-only test database, in the foreground: ready in a second. */
async function startClamd(): Promise<Endpoint> {
  const files = [
    { content: clamdConfig(`${CLAMD_DIR}/db`), target: `${CLAMD_DIR}/clamd.conf`, mode: 0o644 },
    ...clamdDatabase().map((file) => ({ content: file.content, target: `${CLAMD_DIR}/db/${file.name}`, mode: 0o644 })),
  ];
  const container = await new GenericContainer(suiteImages.clamav)
    .withEntrypoint(['clamd'])
    .withCommand([`--config-file=${CLAMD_DIR}/clamd.conf`])
    .withCopyContentToContainer(files)
    .withExposedPorts(3310)
    .withWaitStrategy(Wait.forListeningPorts())
    .withStartupTimeout(120_000)
    .start();
  started.push(container);
  const clamd = endpoint(container, 3310);
  const scanner = new ClamavScanner('clamav', { ...clamd, chunkSize: 64 * 1024 });
  await waitFor('clamd (PING)', () => scanner.ping(AbortSignal.timeout(3000)), 60_000);
  return clamd;
}

/** The compose file's spamd image as it is; it runs sa-update before it listens. */
async function startSpamd(): Promise<Endpoint> {
  const container = await new GenericContainer(suiteImages.spamassassin)
    .withExposedPorts(783)
    .withWaitStrategy(Wait.forListeningPorts())
    .withStartupTimeout(300_000)
    .start();
  started.push(container);
  const spamd = endpoint(container, 783);
  const scanner = new SpamassassinScanner('spamassassin', spamd);
  // A TCP connect succeeds well before spamd answers: only PONG counts.
  await waitFor('spamd (PING)', () => scanner.ping(AbortSignal.timeout(3000)), 120_000);
  return spamd;
}

describeScanningScenarios(
  'scanning scenarios against clamd and spamd in containers',
  async () => {
    const [clamd, spamd] = await Promise.allSettled([startClamd(), startSpamd()]);
    if (clamd.status === 'rejected') throw clamd.reason;
    if (spamd.status === 'rejected') throw spamd.reason;
    return { clamd: clamd.value, spamd: spamd.value, upstreamPort: services.postfixPort };
  },
  skip,
);
