import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import type { CommonScannerSettings, ScannerCategory, ScannerFactory } from '../scan/registry.js';
import { listenerList } from '../server/listener-settings.js';
import { baseSchema, commonScannerKeys, listenerSchema, type BaseConfig } from './schema.js';

export interface ScannerConfig extends CommonScannerSettings {
  readonly name: string;
  readonly type: string;
  readonly category: ScannerCategory;
  readonly rejectScore: number;
  readonly tagScore: number;
  /** policy.mode unless the entry overrides it. */
  readonly mode: 'enforce' | 'observe';
  /** The thresholds for mail from submission listeners, when the entry sets `outbound` (else the ones above). */
  readonly outbound?: { readonly rejectScore: number; readonly tagScore: number };
  /** The keys of the scanner's own schema, validated (the first server's, with `servers`). */
  readonly options: Readonly<Record<string, unknown>>;
  /** With `servers`: each endpoint's own keys, validated (src/scan/endpoints.ts). */
  readonly servers?: readonly Readonly<Record<string, unknown>>[];
}

/** One listener's settings (`listen:` takes one or a list). */
export type ListenConfig = Readonly<z.output<typeof listenerSchema>>;

export type Config = Readonly<
  Omit<BaseConfig, 'scanners' | 'listen'> & {
    scanners: readonly ScannerConfig[];
    /** The first listener: its hostname is the proxy's name (HELO, trace headers, scanners). */
    listen: ListenConfig;
    /** Every listener, the first one included (src/server/listener-settings.ts). */
    listeners: readonly ListenConfig[];
  }
>;

export const scannerDefaults: CommonScannerSettings & { rejectScore: number; tagScore: number } = {
  concurrency: 4,
  maxQueue: 100,
  timeout: 30_000,
  onError: 'tempfail',
  maxSize: 0,
  onOversize: 'skip',
  rejectScore: 10,
  tagScore: 5,
};

export const CONFIG_ENV = 'SMTP_SCAN_PROXY_CONFIG';

/**
 * Reads the config file (YAML) named by --config or SMTP_SCAN_PROXY_CONFIG, or uses the
 * built-in defaults when neither is given.
 */
export interface LoadedConfig {
  readonly config: Config;
  /** The built-in scanner types plus those the config's plugins added. */
  readonly factories: ReadonlyMap<string, ScannerFactory>;
  /** The file read, if any: every worker reads it again. */
  readonly file?: string;
}

export async function loadConfig(
  file: string | undefined,
  builtins: ReadonlyMap<string, ScannerFactory>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LoadedConfig> {
  const source = file ?? env[CONFIG_ENV];
  if (!source) return { config: parseConfig({}, builtins), factories: builtins };
  let text: string;
  try {
    text = await readFile(source, 'utf8');
  } catch (error) {
    throw new ConfigError(`config: cannot read ${source}: ${(error as Error).message}`, { cause: error });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (error) {
    throw new ConfigError(`config: ${source} is not valid YAML: ${(error as Error).message}`, { cause: error });
  }
  const plugins = await loadPlugins(raw, path.dirname(path.resolve(source)), builtins);
  const factories = new Map([...builtins, ...plugins]);
  return { config: parseConfig(raw, factories), factories, file: source };
}

/** Validates a config object; every problem is reported with the key that has it. */
export function parseConfig(raw: unknown, factories: ReadonlyMap<string, ScannerFactory>): Config {
  const base = baseSchema.safeParse(raw);
  if (!base.success) throw configError(base.error.issues, []);
  const names = new Set<string>();
  const scanners = base.data.scanners.map((entry, index) => {
    const scanner = parseScanner(entry, index, factories, base.data.policy.mode);
    if (names.has(scanner.name)) {
      throw new ConfigError(`config: scanners[${index}].name: "${scanner.name}" is used twice; give each scanner its own name`);
    }
    names.add(scanner.name);
    return scanner;
  });
  const listeners = listenerList(base.data.listen);
  return deepFreeze({ ...base.data, listen: listeners[0]!, listeners, scanners });
}

function parseScanner(
  entry: { type: string },
  index: number,
  factories: ReadonlyMap<string, ScannerFactory>,
  mode: ScannerConfig['mode'],
): ScannerConfig {
  const factory = factories.get(entry.type);
  if (!factory) {
    const known = [...factories.keys()].join(', ');
    throw new ConfigError(`config: scanners[${index}].type: unknown scanner type "${entry.type}" (known: ${known})`);
  }
  const clash = Object.keys(factory.options.shape).filter((key) => key in commonScannerKeys);
  if (clash.length > 0) {
    throw new ConfigError(`config: scanners[${index}]: scanner type "${entry.type}" redefines common keys: ${clash.join(', ')}`);
  }
  // extend() keeps the adapter's own refinements (clamav: socket or host/port, not both).
  const schema = factory.options.extend(commonScannerKeys).strict();
  const parsed = schema.safeParse(entry);
  if (!parsed.success) throw configError(parsed.error.issues, ['scanners', index]);
  const { type, name, concurrency, maxQueue, timeout, onError, maxSize, onOversize, rejectScore, tagScore, mode: own, outbound, servers: serverEntries, ...entryOptions } =
    parsed.data as z.output<z.ZodObject<typeof commonScannerKeys>> & Record<string, unknown>;
  const servers = serverEntries && parseServers(factory, entry, serverEntries, index);
  const options = servers?.[0] ?? entryOptions;
  const defaults = { ...scannerDefaults, ...factory.defaults };
  const thresholds = { rejectScore: rejectScore ?? defaults.rejectScore, tagScore: tagScore ?? defaults.tagScore };
  return {
    type,
    name: name ?? type,
    category: factory.category ?? 'content',
    concurrency: concurrency ?? defaults.concurrency,
    maxQueue: maxQueue ?? defaults.maxQueue,
    timeout: timeout ?? defaults.timeout,
    onError: onError ?? defaults.onError,
    maxSize: maxSize ?? defaults.maxSize,
    onOversize: onOversize ?? defaults.onOversize,
    ...thresholds,
    mode: own ?? mode,
    ...(outbound ? { outbound: { ...thresholds, ...outbound } } : {}),
    options,
    ...(servers ? { servers } : {}),
  };
}

/** Each server is the entry's own keys with the server's over them, validated by the type's schema. */
function parseServers(factory: ScannerFactory, entry: object, servers: readonly object[], index: number): Record<string, unknown>[] {
  const own = Object.fromEntries(Object.entries(entry).filter(([key]) => !(key in commonScannerKeys)));
  return servers.map((server, position) => {
    const parsed = factory.options.strict().safeParse({ ...own, ...server });
    if (!parsed.success) throw configError(parsed.error.issues, ['scanners', index, 'servers', position]);
    return parsed.data;
  });
}

async function loadPlugins(raw: unknown, baseDir: string, builtins: ReadonlyMap<string, unknown>): Promise<Map<string, ScannerFactory>> {
  const list = (raw as { plugins?: unknown } | null)?.plugins;
  const plugins = new Map<string, ScannerFactory>();
  if (!Array.isArray(list)) return plugins;
  for (const [index, specifier] of list.entries()) {
    if (typeof specifier !== 'string') continue;
    const target = specifier.startsWith('.') || path.isAbsolute(specifier)
      ? pathToFileURL(path.resolve(baseDir, specifier)).href
      : specifier;
    let module: { default?: unknown; scanner?: unknown };
    try {
      module = await import(target);
    } catch (error) {
      throw new ConfigError(`config: plugins[${index}]: cannot load ${specifier}: ${(error as Error).message}`, { cause: error });
    }
    const factory = (module.scanner ?? module.default) as Partial<ScannerFactory> | undefined;
    if (!factory || typeof factory.type !== 'string' || typeof factory.create !== 'function' || !factory.options) {
      throw new ConfigError(`config: plugins[${index}]: ${specifier} exports no scanner factory (export const scanner = { type, options, create })`);
    }
    if (builtins.has(factory.type) || plugins.has(factory.type)) {
      throw new ConfigError(`config: plugins[${index}]: scanner type "${factory.type}" is already defined; give the plugin's type another name`);
    }
    plugins.set(factory.type, factory as ScannerFactory);
  }
  return plugins;
}

function configError(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[]): ConfigError {
  const lines = issues.map((issue) => {
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
    return keys
      .map((key) => {
        const where = formatPath([...prefix, ...issue.path, ...(key === undefined ? [] : [key])]);
        return key === undefined ? `${where}: ${issue.message}` : `${where}: unknown key`;
      })
      .join('\n');
  });
  return new ConfigError(`config: invalid configuration\n${lines.join('\n')}`);
}

function formatPath(keys: readonly PropertyKey[]): string {
  if (keys.length === 0) return '(top level)';
  return keys.reduce<string>((text, key) => (typeof key === 'number' ? `${text}[${key}]` : text ? `${text}.${String(key)}` : String(key)), '');
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
