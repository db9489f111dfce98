/** Cached answers are kept this long at least, so a zero-TTL list cannot make us query per connection. */
export const MIN_TTL_MS = 60_000;
/** And at most this long, so a delisting takes effect within the hour whatever the zone says. */
export const MAX_TTL_MS = 3_600_000;

export type CacheOptions = { maxEntries?: number; now?: () => number };

/**
 * DNS list answers by query name, each kept for its TTL clamped to [MIN_TTL_MS, MAX_TTL_MS].
 * An empty answer list is a cached NXDOMAIN. Bounded: a flood from many addresses evicts the
 * oldest entries instead of growing without limit (Map keeps insertion order).
 */
export class DnsCache {
  private readonly entries = new Map<string, { answers: readonly string[]; expires: number }>();
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: CacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  get(name: string): readonly string[] | undefined {
    const entry = this.entries.get(name);
    if (!entry) return undefined;
    if (entry.expires > this.now()) return entry.answers;
    this.entries.delete(name);
    return undefined;
  }

  set(name: string, answers: readonly string[], ttlSeconds: number): void {
    const ttl = Math.min(MAX_TTL_MS, Math.max(MIN_TTL_MS, ttlSeconds * 1000));
    this.entries.delete(name);
    this.entries.set(name, { answers, expires: this.now() + ttl });
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(oldest);
    }
  }
}
