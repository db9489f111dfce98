import type { Decision } from '../policy/decision.js';
import type { SpooledMessage } from '../spool/message.js';

/** The envelope a scan stage may look at (never changes it). */
export interface ScanEnvelope {
  readonly mailFrom: string;
  readonly rcptTo: readonly string[];
  readonly clientAddress: string;
}

/**
 * Everything between "message received" and "message relayed": scanners plus policy. The
 * session only sees the decision.
 */
export interface ScanStage {
  run(message: SpooledMessage, envelope: ScanEnvelope, signal: AbortSignal): Promise<Decision>;
}
