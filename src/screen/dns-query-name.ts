import { isIPv4, isIPv6 } from 'node:net';
import { ipv6Hex, unmapIPv4 } from './ip-address.js';

/**
 * The name to look up for a client in a DNS list: octets reversed for IPv4
 * (192.0.2.1 -> 1.2.0.192.zone), nibbles reversed for IPv6 (RFC 5782 section 2.4). IPv6
 * clients are only looked up in zones that list IPv6; undefined means "do not ask this zone".
 */
export function queryName(address: string, zone: string, ipv6: boolean): string | undefined {
  const client = unmapIPv4(address);
  if (isIPv4(client)) return `${client.split('.').reverse().join('.')}.${zone}`;
  if (isIPv6(client) && ipv6) return `${[...ipv6Hex(client)].reverse().join('.')}.${zone}`;
  return undefined;
}
