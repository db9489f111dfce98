import type { Logger } from 'pino';
import type { Config } from '../config/load.js';
import { decide, inboundReplies, outboundReplies, type PolicySettings, type VerdictReplies } from '../policy/decide.js';
import type { Decision } from '../policy/decision.js';
import type { SpooledMessage } from '../spool/message.js';
import type { ScannerFactory } from './registry.js';
import type { ScanResult } from './scan-result.js';
import type { ListenerRole } from '../session/session-context.js';
import { createEndpoints } from './endpoints.js';
import { ScannerUnit } from './scanner-unit.js';
import type { ScanEnvelope, ScanStage } from './stage.js';

/**
 * All configured scanners on one message at once: a message costs its slowest scan, not the
 * sum. The whole stage has one deadline (limits.scanDeadline) inside which each scanner has its
 * own timeout; a client that goes away aborts every scan.
 */
export class ScanningStage implements ScanStage {
  /**
   * By listener role: mail from a submission listener is judged by each scanner's outbound
   * thresholds and refused in words for our own user.
   */
  private readonly policies: Readonly<Record<ListenerRole, { settings: ReadonlyMap<string, PolicySettings>; wording: VerdictReplies }>>;

  constructor(
    readonly units: readonly ScannerUnit[],
    private readonly deadline: number,
    private readonly hostname: string,
  ) {
    this.policies = {
      inbound: { settings: new Map(units.map((unit) => [unit.settings.name, unit.settings])), wording: inboundReplies },
      submission: {
        settings: new Map(units.map((unit) => [unit.settings.name, { ...unit.settings, ...unit.settings.outbound }])),
        wording: outboundReplies,
      },
    };
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
    const policy = this.policies[envelope.role];
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
          if (rejects(result, policy.settings)) stage.abort();
          return result;
        }),
      );
      return { ...decide(results, policy.settings, this.hostname, policy.wording), results };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Releases the scanners' long-lived resources at shutdown. Never throws. */
  async close(): Promise<void> {
    await Promise.allSettled(this.units.map((unit) => unit.close()));
  }
}

/** A finding that will be refused; in observe mode every scanner runs to its end. */
function rejects(result: ScanResult, policy: ReadonlyMap<string, PolicySettings>): boolean {
  const { verdict } = result;
  const { mode, rejectScore } = policy.get(result.name)!;
  if (mode === 'observe') return false;
  if (verdict.kind === 'infected' || verdict.kind === 'banned') return true;
  return verdict.kind === 'scored' && (verdict.score >= rejectScore || verdict.action === 'reject');
}
