import type { SMTPServerSession } from 'smtp-server';

/** Open connections per client address, for limits.maxClientsPerIp. */
export class ConnectionCounter {
  private readonly byAddress = new Map<string, number>();
  private readonly counted = new WeakSet<SMTPServerSession>();

  count(address: string): number {
    return this.byAddress.get(address) ?? 0;
  }

  add(session: SMTPServerSession): void {
    this.counted.add(session);
    this.byAddress.set(session.remoteAddress, this.count(session.remoteAddress) + 1);
  }

  /** Only sessions that were added count down, so a refused connection cannot. */
  remove(session: SMTPServerSession): void {
    if (!this.counted.has(session)) return;
    this.counted.delete(session);
    const left = this.count(session.remoteAddress) - 1;
    if (left > 0) this.byAddress.set(session.remoteAddress, left);
    else this.byAddress.delete(session.remoteAddress);
  }
}
