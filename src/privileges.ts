import { execFileSync, spawnSync } from 'node:child_process';
import cluster from 'node:cluster';
import type { Logger } from 'pino';
import { ConfigError } from './errors.js';

/**
 * The user the proxy takes mail as. Started as root with `user` set, that is `user`, switched to
 * once the listeners are bound; otherwise whoever started it. Every file the proxy needs after
 * the switch (the spool, the TLS files) is checked for this user, not for root: a worker that
 * dies is replaced by a fork of the primary, which has dropped root by then.
 */
export interface RunAs {
  readonly uid: number;
  readonly gid: number;
  /** `user` when set, for messages; or "uid N". */
  readonly name: string;
  /** The process already is `user` (a worker forked after the primary dropped root, say). */
  readonly serviceUser: boolean;
  /** Root now, `user` to switch to: dropPrivileges() has work to do. */
  readonly switching: boolean;
}

const uid = (): number => process.getuid!();

export function isRoot(): boolean {
  return uid() === 0;
}

/**
 * Looks up `user` and `group` (getent, so NSS accounts work too); one not found is a ConfigError
 * naming its key. Not started as root, the proxy cannot switch: it is whoever started it.
 */
export function runAsFor(config: { readonly user?: string | undefined; readonly group?: string | undefined }): RunAs {
  const self: RunAs = { uid: uid(), gid: process.getgid!(), name: `uid ${uid()}`, serviceUser: false, switching: false };
  if (!config.user) return self;
  const account = lookup('passwd', 'user', config.user);
  const target = Number(account[2]);
  const name = `${config.user} (uid ${target})`;
  const gid = Number(config.group ? lookup('group', 'group', config.group)[2] : account[3]);
  if (isRoot()) return { uid: target, gid, name, serviceUser: target === 0, switching: target !== 0 };
  return target === uid() ? { ...self, name, serviceUser: true } : self;
}

function lookup(database: 'passwd' | 'group', key: 'user' | 'group', name: string): string[] {
  try {
    const entry = execFileSync('getent', [database, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return entry.split('\n')[0]!.split(':');
  } catch (error) {
    // getent exits 2 for "not found".
    const detail = (error as { status?: number }).status === 2 ? `no ${key} "${name}" on this system` : `cannot look up "${name}": ${(error as Error).message}`;
    throw new ConfigError(`${key}: ${detail}`, { cause: error });
  }
}

/**
 * Whether `runAs` may access `file` as `test(1)` says (`-r`, `-w`...), asked of a child running
 * as that user, so the kernel decides: ACLs, directories on the way and read-only mounts count.
 */
export function mayAccess(runAs: RunAs, tests: readonly string[], file: string): boolean {
  const args = tests.flatMap((test, index) => (index === 0 ? [test, file] : ['-a', test, file]));
  const result = spawnSync('test', args, { stdio: 'ignore', ...(runAs.switching ? { uid: runAs.uid, gid: runAs.gid } : {}) });
  return result.status === 0;
}

/** Said once per start (the primary, or the only process): root parses hostile input otherwise. */
export function warnIfRoot(runAs: RunAs, logger: Logger): void {
  if (isRoot() && !runAs.switching && !cluster.isWorker) {
    logger.warn({ key: 'user' }, 'running as root: set "user" (and "group") to an unprivileged account so the proxy drops root once it listens');
  }
}

/**
 * Becomes `runAs` for good (real, effective and saved ids; the group list is just its group,
 * as Postfix does). Called once the listeners are bound and before a connection is accepted.
 */
export function dropPrivileges(runAs: RunAs, logger: Logger): void {
  if (!runAs.switching) return;
  process.setgroups!([runAs.gid]);
  process.setgid!(runAs.gid);
  process.setuid!(runAs.uid);
  logger.info({ uid: runAs.uid, gid: runAs.gid }, `dropped root: running as ${runAs.name}`);
}

/**
 * The cluster primary binds every worker's listener (a worker's listen() asks it), so it drops
 * root only once all `count` workers listen. A worker that dies later is replaced by a fork of
 * the dropped primary; its listener is the primary's bound socket, no new bind needed.
 */
export function dropWhenWorkersListen(count: number, runAs: RunAs, logger: Logger): void {
  if (!runAs.switching) return;
  const listening = new Set<number>();
  const onListening = (worker: { id: number }) => {
    listening.add(worker.id);
    if (listening.size < count) return;
    cluster.off('listening', onListening);
    dropPrivileges(runAs, logger);
  };
  cluster.on('listening', onListening);
}
