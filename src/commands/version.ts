import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The version in our package.json, found from here both in src/ (tsx) and in dist/src/ (built). */
export function version(): string {
  for (let dir = import.meta.dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'smtp-scan-proxy' && pkg.version) return pkg.version;
    } catch {
      // no package.json at this level: look one up
    }
  }
  throw new Error('package.json of smtp-scan-proxy not found');
}
