import cluster from 'node:cluster';
import type { Logger } from 'pino';
import { loadConfig, type Config } from './config/load.js';
import type { ScannerFactory } from './scan/registry.js';

/**
 * Keys read once at start-up: the listening socket and its TLS, the processes, the account
 * switched to, the spool directory and the process's message memory, the metrics listener.
 * A reload logs a change to one of them and keeps the value the proxy started with.
 */
const RESTART_KEYS: readonly (readonly string[])[] = [
  ['listen'],
  ['listeners'],
  ['tls'],
  ['workers'],
  ['user'],
  ['group'],
  ['spool', 'dir'],
  ['spool', 'memoryTotal'],
  ['metrics'],
];

/**
 * process: a proxy of one process; primary: the primary of workers, which validates the file
 * once and passes the signal on; worker: reloads in place, its primary has logged the keys
 * that need a restart.
 */
export type ReloadRole = 'process' | 'primary' | 'worker';

export interface ReloadOptions {
  readonly file: string | undefined;
  readonly builtins: ReadonlyMap<string, ScannerFactory>;
  readonly logger: Logger;
  readonly role: ReloadRole;
  /** Puts the new config in force; throws, with the old one still in force, when it cannot. */
  readonly apply: (config: Config, factories: ReadonlyMap<string, ScannerFactory>) => void;
}

/**
 * SIGHUP: the config file read and validated again. An invalid file, or one whose parts cannot
 * be built, is logged (level error, naming the key) and the proxy goes on with the config it
 * has; a valid one is applied (see Runtime) and logged with the keys that changed.
 */
export class ConfigReloader {
  constructor(
    private config: Config,
    private readonly options: ReloadOptions,
  ) {}

  readonly reload = async (): Promise<void> => {
    const { file, builtins, logger, role, apply } = this.options;
    const failed = (error: unknown) =>
      logger.error({ file, error: error instanceof Error ? error.message : String(error) }, 'config reload failed; still running on the previous config');
    let loaded;
    try {
      loaded = await loadConfig(file, builtins);
    } catch (error) {
      return failed(error);
    }
    const restartOnly = RESTART_KEYS.flatMap((key) => changedKeys(valueAt(this.config, key), valueAt(loaded.config, key), key.join('.')));
    const next = RESTART_KEYS.reduce((config, key) => withValueAt(config, key, valueAt(this.config, key)), loaded.config);
    const changed = changedKeys(this.config, next, '');
    try {
      apply(next, loaded.factories);
    } catch (error) {
      return failed(error);
    }
    this.config = next;
    if (role !== 'worker') {
      for (const key of restartOnly) logger.warn({ key }, `config: ${key} changed, takes effect at restart`);
    }
    logger.info({ changed }, role === 'primary' ? 'config valid; reloading workers' : 'config reloaded');
    logger.level = next.log.level;
  };
}

/** The primary's part of a reload: each worker reads the file again itself. */
export function signalWorkers(): void {
  for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP');
}

type Tree = Readonly<Record<string, unknown>>;

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function valueAt(config: Config, key: readonly string[]): unknown {
  return key.reduce<unknown>((node, name) => (isTree(node) ? node[name] : undefined), config);
}

function withValueAt<T>(node: T, key: readonly string[], value: unknown): T {
  const [name, ...rest] = key;
  const tree: Record<string, unknown> = { ...(isTree(node) ? node : {}) };
  const inner = rest.length === 0 ? value : withValueAt(tree[name!], rest, value);
  if (inner === undefined) delete tree[name!];
  else tree[name!] = inner;
  return Object.freeze(tree) as T;
}

/** The dotted keys whose values differ; lists (scanners) count as one value. */
function changedKeys(before: unknown, after: unknown, prefix: string): string[] {
  if (isTree(before) && isTree(after)) {
    const names = new Set([...Object.keys(before), ...Object.keys(after)]);
    return [...names].flatMap((name) => changedKeys(before[name], after[name], prefix ? `${prefix}.${name}` : name));
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [prefix];
}
