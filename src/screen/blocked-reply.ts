import { blockedAtRcptReply, blockedReply } from '../smtp/replies.js';
import type { SmtpReply } from '../smtp/reply.js';
import { unmapIPv4 } from './ip-address.js';

/**
 * The reply for a client on a list (a DNS list's displayed name, or the access list): 521 at
 * connect (`drop`), 550 at each RCPT (`enforce`), naming the client as it is logged.
 */
export function blockedClientReply(address: string, list: string, action: 'drop' | 'enforce'): SmtpReply {
  const client = unmapIPv4(address);
  return action === 'drop' ? blockedReply(client, list) : blockedAtRcptReply(client, list);
}
