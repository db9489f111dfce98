import { isIPv4, isIPv6 } from 'node:net';

const MAPPED_V4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * The address a client is shown and logged as: an IPv4 client reaching a dual-stack socket
 * arrives as ::ffff:a.b.c.d, and must count (and read) as the same client as a.b.c.d.
 */
export function displayAddress(address: string): string {
  return MAPPED_V4.exec(address)?.[1] ?? address;
}

/**
 * The key one client's counters are kept under: its IPv4 address, or its IPv6 network of
 * `ipv6Prefix` bits, because one IPv6 host is given a whole /64 (or /56, /48) and can use a
 * fresh address for every connection. Anything that is no IP address (a Unix socket peer)
 * is its own key.
 */
export function clientKey(address: string, ipv6Prefix: number): string {
  const shown = displayAddress(address);
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

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, an IPv4 tail converted). */
function ipv6Groups(address: string): number[] {
  let text = address.replace(/%.*$/, '');
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string | undefined) => (part ? part.split(':').map((group) => parseInt(group, 16)) : []);
  const front = parse(head);
  const back = parse(tail);
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
}
