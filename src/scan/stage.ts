import type { Decision } from '../policy/decision.js';
import type { SpooledMessage } from '../spool/message.js';
import type { ScanEnvelope } from './scan-session.js';

export type { ScanEnvelope } from './scan-session.js';

/**
 * Everything between "message received" and "message relayed": scanners plus policy. The
 * session only sees the decision.
 */
export interface ScanStage {
  run(message: SpooledMessage, envelope: ScanEnvelope, signal: AbortSignal): Promise<Decision>;
}
