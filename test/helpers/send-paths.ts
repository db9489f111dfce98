import { services } from './services.js';

/**
 * The two ways the proxy sends a message upstream, each to a test Postfix that makes it take
 * that way. Postfix's own final reply tells which one it received: after BDAT it counts the
 * bytes ("Ok: 201 bytes queued as ..."), after DATA it does not.
 */
export const SEND_PATHS = [
  { command: 'BDAT', upstream: 'Postfix with CHUNKING', port: () => services.postfixPort, final: /^250 2\.0\.0 Ok: \d+ bytes queued as [0-9A-Za-z]+$/ },
  { command: 'DATA', upstream: 'Postfix without CHUNKING', port: () => services.postfixNoChunkingPort, final: /^250 2\.0\.0 Ok: queued as [0-9A-Za-z]+$/ },
] as const;

/** Postfix's final reply to a message it queued, after BDAT or DATA; the queue id captured. */
export const QUEUED = /^250 2\.0\.0 Ok: (?:\d+ bytes )?queued as ([0-9A-Za-z]+)$/;
