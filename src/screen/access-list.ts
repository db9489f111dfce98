import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { blockedClientReply } from './blocked-reply.js';
import type { SmtpReply } from '../smtp/reply.js';
import { addressRange, rangeOf } from './address-ranges.js';
import { unmapIPv4, type Cidr } from './ip-address.js';

export const accessSchema = z
  .strictObject({
    /** Skip screening: internal relays, monitoring. */
    allow: z.array(addressRange).default([]),
    /** Refused like a DNS listing. */
    deny: z.array(addressRange).default([]),
  })
  .prefault({});

export type AccessSettings = z.infer<typeof accessSchema>;
export type AccessDecision = 'allow' | 'deny';

/** What the reply names as the list a denied client is on. */
export const ACCESS_LIST_NAME = 'access list';

/**
 * The client access list. Postscreen's list is first-match in the order written; ours has two
 * lists, so the most specific range decides instead (a deny of 10.1.2.3 inside an allowed
 * 10.0.0.0/8 denies it, an allow of one monitoring host inside a denied range allows it), and
 * on the same range in both, deny wins. Order in the file never matters.
 */
export class AccessList {
  /** Most specific first; each range its own BlockList so the longest match can be told. */
  private readonly ranges: { decision: AccessDecision; prefix: number; list: BlockList; family: Cidr['family'] }[];

  constructor(settings: AccessSettings) {
    const entries = [
      ...settings.deny.map((range) => ({ range, decision: 'deny' as const })),
      ...settings.allow.map((range) => ({ range, decision: 'allow' as const })),
    ];
    this.ranges = entries
      .map(({ range: text, decision }) => {
        const range = rangeOf(text);
        const list = new BlockList();
        list.addSubnet(range.address, range.prefix, range.family);
        return { decision, prefix: range.prefix, list, family: range.family };
      })
      // A stable sort keeps deny (listed first) ahead of allow on equal prefixes.
      .sort((a, b) => b.prefix - a.prefix);
  }

  check(address: string): AccessDecision | undefined {
    const client = unmapIPv4(address);
    const version = isIP(client);
    if (version === 0) return undefined;
    const family = version === 4 ? 'ipv4' : 'ipv6';
    return this.ranges.find((range) => range.family === family && range.list.check(client, family))?.decision;
  }
}

/** The reply for a denied client: the same as a DNS listing's, naming the access list. */
export function deniedReply(address: string, action: 'drop' | 'enforce'): SmtpReply {
  return blockedClientReply(address, ACCESS_LIST_NAME, action);
}
