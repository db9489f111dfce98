import { isIPv4, isIPv6 } from 'node:net';
import { ipv6Groups, unmapIPv4 } from './ip-address.js';

/**
 * The key one client's counters are kept under: its IPv4 address, or its IPv6 network of
 * `ipv6Prefix` bits, because one IPv6 host is given a whole /64 (or /56, /48) and can use a
 * fresh address for every connection. Anything that is no IP address (a Unix socket peer)
 * is its own key.
 */
export function clientKey(address: string, ipv6Prefix: number): string {
  const shown = unmapIPv4(address);
  if (isIPv4(shown) || !isIPv6(shown)) return shown;
  const groups = ipv6Groups(shown);
  let bits = ipv6Prefix;
  const masked = groups.map((group) => {
    const keep = Math.max(0, Math.min(16, bits));
    bits -= 16;
    return keep === 0 ? 0 : group & (0xffff << (16 - keep)) & 0xffff;
  });
  return `${masked.map((group) => group.toString(16)).join(':')}/${ipv6Prefix}`;
}
