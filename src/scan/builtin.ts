import type { ScannerFactory } from './registry.js';

/** Scanner types available without a plugin, by type name. */
export const builtinScanners: ReadonlyMap<string, ScannerFactory> = new Map();
