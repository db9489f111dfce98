import type { SMTPServerAddress, SMTPServerEnvelope } from 'smtp-server';
import { UpstreamMissingExtensionError } from '../errors.js';
import type { Capabilities } from '../upstream/capabilities.js';
import { xtextEncode } from '../upstream/xtext.js';

/**
 * Builds the MAIL and RCPT commands sent upstream from what smtp-server parsed. Parameters the
 * client used are passed on when the upstream supports them: SIZE and the DSN parameters are
 * advisory and dropped otherwise; SMTPUTF8 and BODY=8BITMIME change how the message must be
 * handled, so a transaction that needs them fails with a 4xx when the upstream lacks them.
 */
export function mailCommand(from: SMTPServerAddress, envelope: SMTPServerEnvelope, caps: Capabilities): string {
  const args = from.args || {};
  const params: string[] = [];
  if (args.SIZE && caps.has('SIZE')) params.push(`SIZE=${args.SIZE}`);
  if (envelope.bodyType?.toLowerCase() === '8bitmime') {
    if (!caps.has('8BITMIME')) throw new UpstreamMissingExtensionError('8BITMIME');
    params.push('BODY=8BITMIME');
  }
  if (envelope.smtpUtf8) {
    if (!caps.has('SMTPUTF8')) throw new UpstreamMissingExtensionError('SMTPUTF8');
    params.push('SMTPUTF8');
  }
  if (caps.has('DSN') && envelope.dsn) {
    if (envelope.dsn.ret) params.push(`RET=${envelope.dsn.ret.toUpperCase()}`);
    if (envelope.dsn.envid) params.push(`ENVID=${xtextEncode(envelope.dsn.envid)}`);
  }
  return withParams(`MAIL FROM:<${from.address}>`, params);
}

export function rcptCommand(to: SMTPServerAddress, caps: Capabilities): string {
  const params: string[] = [];
  if (caps.has('DSN') && to.dsn) {
    if (to.dsn.notify?.length) params.push(`NOTIFY=${to.dsn.notify.join(',')}`);
    if (to.dsn.orcpt) params.push(`ORCPT=${encodeOrcpt(to.dsn.orcpt)}`);
  }
  return withParams(`RCPT TO:<${to.address}>`, params);
}

/** ORCPT is "addr-type;xtext": only the address part is xtext (RFC 3461 section 4.2). */
function encodeOrcpt(orcpt: string): string {
  const semicolon = orcpt.indexOf(';');
  return `${orcpt.slice(0, semicolon)};${xtextEncode(orcpt.slice(semicolon + 1))}`;
}

function withParams(command: string, params: readonly string[]): string {
  return params.length ? `${command} ${params.join(' ')}` : command;
}
