import { pino, type Logger } from 'pino';

/** JSON lines on stdout (pino), one logger for the process; sessions use child loggers. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** For code paths that must not print (the health check's scanner instances). */
export const silentLogger: Logger = pino({ level: 'silent' });
