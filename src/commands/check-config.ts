import { stringify } from 'yaml';
import type { z } from 'zod';
import type { LoadedConfig } from '../config/load.js';
import { baseSchema, commonScannerKeys, listenerSchema } from '../config/schema.js';
import { loadSigningKeys } from '../dkim/keys.js';
import { checkLocalSetup } from '../local-setup.js';

/**
 * `check-config [--print]`: the config parsed as the proxy would (a problem is a ConfigError
 * naming its key, exit 78), then the checks the proxy makes on this machine before it takes
 * mail that need no running proxy (spool directory, TLS files, DKIM keys). Changes nothing.
 */
export async function checkConfig(loaded: LoadedConfig, print: boolean, out: (text: string) => void): Promise<number> {
  await checkLocalSetup(loaded.config);
  if (loaded.config.dkim) loadSigningKeys(loaded.config.dkim.keys);
  if (print) out(stringify(effectiveConfig(loaded)).trimEnd());
  else out(`config ok: ${loaded.file ?? 'built-in defaults'}`);
  return 0;
}

/**
 * The config with every default filled in, written so that it loads back to the same config:
 * durations with their unit (a bare number would be read as seconds), each scanner as one flat
 * entry the way it is written.
 */
export function effectiveConfig({ config, factories }: LoadedConfig): Record<string, unknown> {
  const scanners = config.scanners.map(({ options, category: _category, ...common }) => {
    const schema = factories.get(common.type)!.options.extend(commonScannerKeys);
    // With servers, each endpoint's keys are in its entry there; the first's repeated flat would clash (socket vs host).
    return withUnits(schema, { ...common, ...(common.servers ? {} : options) });
  });
  const { listeners, ...rest } = config;
  const listen = listeners.map((listener) => withUnits(listenerSchema, listener));
  return { ...(withUnits(baseSchema, { ...rest, scanners: [] }) as Record<string, unknown>), listen: listen.length === 1 ? listen[0] : listen, scanners };
}

function withUnits(schema: z.ZodType, value: unknown): unknown {
  if (typeof value === 'number') return isDuration(schema) ? formatDuration(value) : value;
  const inner = unwrap(schema);
  // A union of objects (listen.auth: file or upstream): the option the value is one of.
  if (inner._zod.def.type === 'union') {
    const option = (inner as z.ZodUnion)._zod.def.options.find((candidate) => (candidate as z.ZodType).safeParse(value).success);
    return option ? withUnits(option as z.ZodType, value) : value;
  }
  if (Array.isArray(value)) {
    const element = inner._zod.def.type === 'array' ? (inner as z.ZodArray)._zod.def.element : undefined;
    return value.map((item) => (element ? withUnits(element as z.ZodType, item) : item));
  }
  if (value && typeof value === 'object') {
    const shape = inner._zod.def.type === 'object' ? (inner as z.ZodObject)._zod.def.shape : {};
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, shape[key] ? withUnits(shape[key], item) : item]));
  }
  return value;
}

/** Durations are the numbers whose schema reads "60s" as 60,000 (units.ts), refinements and all. */
function isDuration(schema: z.ZodType): boolean {
  const probe = schema.safeParse('60s');
  return probe.success && probe.data === 60_000;
}

function formatDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** Through optional, default and prefault to the schema that says what the value is. */
function unwrap(schema: z.ZodType): z.ZodType {
  let inner = schema;
  while ('innerType' in inner._zod.def) inner = inner._zod.def.innerType as z.ZodType;
  return inner;
}
