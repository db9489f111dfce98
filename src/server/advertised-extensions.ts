import type { SMTPServerOptions } from 'smtp-server';
import type { Capabilities } from '../upstream/capabilities.js';

type ExtensionOptions = Pick<SMTPServerOptions, 'size' | 'hide8BITMIME' | 'hideSMTPUTF8' | 'hideDSN'>;

/**
 * What our EHLO reply offers, as smtp-server options. Hop-by-hop extensions (PIPELINING,
 * ENHANCEDSTATUSCODES, STARTTLS) are ours and always offered; extensions that change what
 * the upstream must accept (8BITMIME, SMTPUTF8, DSN, SIZE) are offered only when the upstream
 * offers them too. Before the upstream was ever seen, only 8BITMIME (universal) is offered.
 */
export function extensionOptions(maxMessageSize: number, upstream: Capabilities | undefined): ExtensionOptions {
  if (!upstream) return { size: maxMessageSize, hide8BITMIME: false, hideSMTPUTF8: true, hideDSN: true };
  const upstreamSize = upstream.size;
  return {
    size: upstreamSize ? Math.min(maxMessageSize, upstreamSize) : maxMessageSize,
    hide8BITMIME: !upstream.has('8BITMIME'),
    hideSMTPUTF8: !upstream.has('SMTPUTF8'),
    hideDSN: !upstream.has('DSN'),
  };
}
