import { events } from '../observe/events.js';

/**
 * Bytes of message data all sessions together may hold in memory. A spool that cannot reserve
 * more moves to a temp file, so memory stays bounded whatever the number of clients.
 */
export class MemoryBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  tryReserve(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.used += bytes;
    events.spool.publish({ where: 'memory', delta: bytes });
    return true;
  }

  release(bytes: number): void {
    const freed = Math.min(this.used, bytes);
    this.used -= freed;
    if (freed > 0) events.spool.publish({ where: 'memory', delta: -freed });
  }

  get inUse(): number {
    return this.used;
  }
}
