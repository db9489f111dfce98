import { chown, lstat, mkdir, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { isRoot, mayAccess, type RunAs } from '../privileges.js';

/** The default spool of a proxy run by root or by its service user. */
export const SYSTEM_SPOOL_DIR = '/var/spool/smtp-scan-proxy';

export interface SpoolDir {
  readonly dir: string;
  /** Made for this process alone: remove it when the process stops. */
  readonly temporary: boolean;
}

/**
 * The spool directory all processes of this start share: `spool.dir`, else the system one when
 * root or the service user runs the proxy. Undefined: each process makes a private one, since a
 * fixed name in the shared temp dir can be taken first by any local user.
 */
export function sharedSpoolDir(configured: string | undefined, runAs: RunAs): string | undefined {
  return configured ?? (isRoot() || runAs.serviceUser ? SYSTEM_SPOOL_DIR : undefined);
}

/** Makes the spool directory if it is missing (mode 700, owned by `runAs`), then checks it. */
export async function prepareSpoolDir(configured: string | undefined, runAs: RunAs): Promise<SpoolDir> {
  const shared = sharedSpoolDir(configured, runAs);
  const dir = shared ?? (await makeTemporary());
  if (shared) await makeMissing(shared, runAs);
  await checkSpoolDir(dir, runAs);
  return { dir, temporary: !shared };
}

/**
 * Refuses a spool directory that anyone but the proxy's user could change: a symlink (its target
 * is someone's choice), one owned by another user, or one group or others may write to.
 */
export async function checkSpoolDir(dir: string, runAs: RunAs): Promise<void> {
  let stats;
  try {
    stats = await lstat(dir);
  } catch (error) {
    throw refused(`${dir} is not a writable directory: ${(error as Error).message}`, error);
  }
  if (stats.isSymbolicLink()) throw refused(`${dir} is a symlink; name the directory itself`);
  if (!stats.isDirectory()) throw refused(`${dir} is not a directory`);
  if (stats.uid !== runAs.uid) {
    throw refused(`${dir} is owned by uid ${stats.uid}, not by the user the proxy runs as, ${runAs.name}`);
  }
  if ((stats.mode & 0o022) !== 0) {
    const mode = (stats.mode & 0o7777).toString(8).padStart(4, '0');
    throw refused(`${dir} is writable by ${stats.mode & 0o020 ? 'its group' : 'others'} (mode ${mode}); make it private to the proxy's user (chmod 700)`);
  }
  if (!mayAccess(runAs, ['-w', '-x'], dir)) throw refused(`${dir} is not a writable directory for ${runAs.name}`);
}

async function makeTemporary(): Promise<string> {
  try {
    return await mkdtemp(path.join(os.tmpdir(), 'smtp-scan-proxy-'));
  } catch (error) {
    throw refused(`cannot make a private directory in ${os.tmpdir()}: ${(error as Error).message}`, error);
  }
}

async function makeMissing(dir: string, runAs: RunAs): Promise<void> {
  try {
    await mkdir(path.dirname(dir), { recursive: true });
    // Not recursive: EEXIST (a directory, or a symlink mkdir does not follow) is left to the check.
    await mkdir(dir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw refused(`${dir} is not a writable directory: ${(error as Error).message}`, error);
  }
  if (runAs.switching) await chown(dir, runAs.uid, runAs.gid);
}

function refused(what: string, cause?: unknown): ConfigError {
  return new ConfigError(`spool.dir: ${what}`, { cause });
}
