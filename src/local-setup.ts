import { lstat, rmdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Config } from './config/load.js';
import { ConfigError } from './errors.js';
import { dropWhenWorkersListen, mayAccess, runAsFor, warnIfRoot, type RunAs } from './privileges.js';
import { checkSpoolDir, prepareSpoolDir, sharedSpoolDir, type SpoolDir } from './spool/spool-dir.js';

/**
 * What the proxy checks on its own machine before it takes mail, for the user it takes mail as
 * (see privileges.ts): a spool directory private to that user, and TLS files it can read. The
 * same checks run at start-up (exit 78 on a problem) and in `--check`.
 */
export interface LocalSetup {
  readonly runAs: RunAs;
  readonly spool: SpoolDir;
}

/** A process that takes mail (the only one, or a worker), before it listens. */
export async function prepareLocalSetup(config: Config, logger: Logger): Promise<LocalSetup> {
  const runAs = runAsFor(config);
  warnIfRoot(runAs, logger);
  checkTlsFiles(config, runAs);
  return { runAs, spool: await prepareSpoolDir(config.spool.dir, runAs) };
}

/** At stop: a spool directory made for this process alone goes with it (empty: files are unlinked when made). */
export async function removeLocalSetup(setup: LocalSetup): Promise<void> {
  if (setup.spool.temporary) await rmdir(setup.spool.dir).catch(() => undefined);
}

/**
 * The cluster primary: the checks before the first fork (a worker failing them would only be
 * restarted, again and again), and root dropped once the workers listen. A worker forked after
 * that reads `configFile` as the proxy's user.
 */
export async function preparePrimary(config: Config, logger: Logger, configFile: string | undefined): Promise<void> {
  const runAs = runAsFor(config);
  warnIfRoot(runAs, logger);
  checkTlsFiles(config, runAs);
  if (configFile && runAs.switching && !mayAccess(runAs, ['-r'], configFile)) {
    throw new ConfigError(`config: ${configFile} cannot be read by ${runAs.name} (a worker that replaces a dead one reads it as that user)`);
  }
  if (sharedSpoolDir(config.spool.dir, runAs)) await prepareSpoolDir(config.spool.dir, runAs);
  dropWhenWorkersListen(config.workers, runAs, logger);
}

/** `--check`: the same checks, changing nothing; a spool directory not made yet is no risk. */
export async function checkLocalSetup(config: Config): Promise<void> {
  const runAs = runAsFor(config);
  checkTlsFiles(config, runAs);
  const shared = sharedSpoolDir(config.spool.dir, runAs);
  if (shared && (await lstat(shared).then(() => true, () => false))) await checkSpoolDir(shared, runAs);
}

/** Read at start-up, as root maybe, but also by every worker forked after root was dropped (and users files on change). */
function checkTlsFiles(config: Config, runAs: RunAs): void {
  const files = [
    ['tls.key', config.tls?.key],
    ['tls.cert', config.tls?.cert],
    ['upstream.tlsCa', config.upstream.tlsCa],
    // A users file is read again whenever it changes, by then as the proxy's user.
    ...config.listeners.map((listener, index) => [`listen[${index}].auth.file`, listener.auth?.type === 'file' ? listener.auth.file : undefined] as const),
    ...config.listeners.map((listener, index) => [`listen[${index}].upstream.tlsCa`, listener.upstream?.tlsCa] as const),
  ] as const;
  for (const [key, file] of files) {
    if (file && !mayAccess(runAs, ['-r'], file)) throw new ConfigError(`${key}: ${file} cannot be read by ${runAs.name}`);
  }
}
