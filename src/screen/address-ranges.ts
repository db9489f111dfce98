import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { parseCidr, unmapIPv4, type Cidr } from './ip-address.js';

/**
 * An address or CIDR range in a config file: validated, but kept as written, so that
 * `check-config --print` writes back what loads again.
 */
export const addressRange = z.string().superRefine((text, ctx) => {
  const parsed = parseCidr(text);
  if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: `${parsed} (use an address or a CIDR range: 192.0.2.0/24, 2001:db8::/32)` });
});

/** A range that addressRange accepted. */
export function rangeOf(text: string): Cidr {
  return parseCidr(text) as Cidr;
}

/** Whether a client's address (IPv4-mapped IPv6 included) lies in any of a list of ranges. */
export class AddressRanges {
  private readonly list = new BlockList();

  constructor(ranges: readonly string[]) {
    for (const text of ranges) {
      const { address, prefix, family } = rangeOf(text);
      this.list.addSubnet(address, prefix, family);
    }
  }

  has(address: string): boolean {
    const plain = unmapIPv4(address);
    const version = isIP(plain);
    return version !== 0 && this.list.check(plain, version === 4 ? 'ipv4' : 'ipv6');
  }
}
