import { passUnchanged } from '../policy/decision.js';
import type { ScanStage } from './stage.js';

/** The stage when no scanner is configured: every message passes unchanged. */
export const noScanning: ScanStage = {
  run: async () => passUnchanged,
};
