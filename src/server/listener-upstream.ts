import type { Config, ListenConfig } from '../config/load.js';

/**
 * The upstream settings of a listener that does not share the top-level upstream's sessions:
 * a submission listener, or one with `upstream` keys of its own (which go over the top-level
 * ones). With `auth: upstream` STARTTLS to it is required whatever was configured, since the
 * client's password crosses that connection. Undefined: the listener uses the shared upstream.
 */
export function ownUpstream(config: Config, listener: ListenConfig): Config['upstream'] | undefined {
  if (listener.role !== 'submission' && !listener.upstream) return undefined;
  // A server of its own replaces the top-level upstream.servers, not just host and port.
  const { servers: _servers, ...single } = config.upstream;
  const upstream = { ...(ownServer(listener) ? single : config.upstream), ...listener.upstream };
  return listener.auth?.type === 'upstream' ? { ...upstream, starttls: 'required' } : upstream;
}

/** Whether the listener names an upstream server of its own (not just TLS or XCLIENT keys). */
export function ownServer(listener: ListenConfig): boolean {
  return listener.upstream?.host !== undefined || listener.upstream?.port !== undefined;
}
