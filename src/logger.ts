import { pino, type Logger } from 'pino';

/**
 * JSON lines on stdout (pino), one logger for the process; sessions use child loggers.
 *
 * Written synchronously: pino's asynchronous stream flushes at exit with a loop that retries a
 * failed write forever (sonic-boom's flushSync), so a proxy whose log reader went away (EPIPE)
 * would never exit on SIGTERM. A synchronous write that fails with EPIPE switches the logger
 * off instead, and nothing is left to flush at exit.
 */
export function createLogger(level: string): Logger {
  return pino(
    { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ fd: 1, sync: true }),
  );
}

/** For code paths that must not print (the health check's scanner instances). */
export const silentLogger: Logger = pino({ level: 'silent' });
