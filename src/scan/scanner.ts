import type { SpooledMessage } from '../spool/message.js';
import type { ScanSession } from './scan-session.js';
import type { Verdict } from './verdict.js';

/**
 * A content scanner. Implementations live in scanners/<type>/ and are registered by type.
 *
 * Contract:
 * - scan() reads the message through its own stream (message.createReadStream()).
 * - scan() resolves with a Verdict; a failure to scan is a resolved `error` verdict. A rejected
 *   promise is also treated as a scanner error (fail closed), never as "clean".
 * - When `signal` aborts (timeout, deadline, client gone) the scanner releases its sockets and
 *   settles promptly; whatever it resolves with after the abort is ignored.
 * - `session` says who sent the message and how (client, HELO, envelope, user, listener role,
 *   the proxy's session id), for engines that judge with it. A scanner written before it was
 *   passed (scan(message, signal)) works unchanged: it just does not look.
 */
export interface Scanner {
  /** Instance name, unique in the config (defaults to the type). Used in logs and headers. */
  readonly name: string;
  readonly type: string;
  scan(message: SpooledMessage, signal: AbortSignal, session: ScanSession): Promise<Verdict>;
  /** Protocol-level health check; rejects when the engine does not answer correctly. */
  ping?(signal: AbortSignal): Promise<void>;
  /** The engine's version string for headers such as X-Virus-Scanned, when it has one. */
  version?(signal: AbortSignal): Promise<string>;
  /** Releases long-lived resources at shutdown. */
  close?(): Promise<void>;
}
