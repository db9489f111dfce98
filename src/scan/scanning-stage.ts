import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import { decide, type PolicySettings } from '../policy/decide.js';
import type { Decision } from '../policy/decision.js';
import type { SpooledMessage } from '../spool/message.js';
import type { ScannerFactory } from './registry.js';
import type { ScanResult } from './scan-result.js';
import { createEndpoints } from './endpoints.js';
import { ScannerUnit } from './scanner-unit.js';
import type { ScanEnvelope, ScanStage } from './stage.js';

/**
 * All configured scanners on one message at once: a message costs its slowest scan, not the
 * sum. The whole stage has one deadline (limits.scanDeadline) inside which each scanner has its
 * own timeout; a client that goes away aborts every scan.
 */
export class ScanningStage implements ScanStage {
  private readonly policy: ReadonlyMap<string, PolicySettings>;

  constructor(
    readonly units: readonly ScannerUnit[],
    private readonly deadline: number,
    private readonly hostname: string,
  ) {
    this.policy = new Map(units.map((unit) => [unit.settings.name, unit.settings]));
  }

  static fromConfig(config: Config, factories: ReadonlyMap<string, ScannerFactory>, logger: Logger): ScanningStage {
    const units = config.scanners.map((settings) => {
      const factory = factories.get(settings.type);
      if (!factory) throw new Error(`no factory for scanner type ${settings.type}`);
      const scannerLogger = logger.child({ scanner: settings.name });
      return new ScannerUnit(createEndpoints(factory, settings, { name: settings.name, logger: scannerLogger }), settings, scannerLogger);
    });
    return new ScanningStage(units, config.limits.scanDeadline, config.listen.hostname);
  }

  /** The decision carries the results: the session's one line per message logs them. */
  async run(message: SpooledMessage, envelope: ScanEnvelope, signal: AbortSignal): Promise<Decision> {
    const session = { ...envelope, hostname: this.hostname };
    const stage = new AbortController();
    const timer = setTimeout(() => stage.abort(), this.deadline);
    const onAbort = () => stage.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      // A definite rejection (a virus, say) decides the message: the other scans are aborted
      // rather than awaited, so a hung spam engine does not delay a virus's 554.
      const results = await Promise.all(
        this.units.map(async (unit) => {
          const result = await unit.scan(message, stage.signal, session);
          if (this.rejects(result)) stage.abort();
          return result;
        }),
      );
      return { ...decide(results, this.policy, this.hostname), results };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** A finding that will be refused; in observe mode every scanner runs to its end. */
  private rejects(result: ScanResult): boolean {
    const { verdict } = result;
    if (this.policy.get(result.name)!.mode === 'observe') return false;
    if (verdict.kind === 'infected' || verdict.kind === 'banned') return true;
    return verdict.kind === 'scored' && verdict.score >= this.policy.get(result.name)!.rejectScore;
  }

  /** Releases the scanners' long-lived resources at shutdown. Never throws. */
  async close(): Promise<void> {
    await Promise.allSettled(this.units.map((unit) => unit.close()));
  }
}
