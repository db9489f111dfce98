/**
 * Log lines about how the upstream is set up (it takes no IPv6 address, it offers no XCLIENT)
 * are true for every client alike: said once per proxy, or again after `repeatAfter` for
 * faults an admin must keep seeing, instead of once per client.
 */
export class UpstreamNotices {
  private readonly said = new Map<string, number>();

  /** Whether to say `key` now; a true answer counts as said. */
  due(key: string, repeatAfter = Number.POSITIVE_INFINITY): boolean {
    const last = this.said.get(key);
    const now = Date.now();
    if (last !== undefined && now - last < repeatAfter) return false;
    this.said.set(key, now);
    return true;
  }
}
