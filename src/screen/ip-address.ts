import { isIPv4, isIPv6 } from 'node:net';

/**
 * Client addresses as screening sees them. A dual-stack listener reports an IPv4 client as
 * ::ffff:192.0.2.1; lists, limits and replies must treat it as the IPv4 address it is.
 */
export function unmapIPv4(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return mapped && isIPv4(mapped[1]!) ? mapped[1]! : address;
}

export function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
}

/** The eight 16-bit groups of an IPv6 address ("::" expanded, a trailing dotted quad split in two). */
export function ipv6Groups(address: string): number[] {
  let text = address.replace(/%.*$/, '');
  const quad = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (quad) {
    const value = ipv4ToNumber(quad[1]!);
    text = `${text.slice(0, quad.index)}${(value >>> 16).toString(16)}:${(value & 0xffff).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((group) => parseInt(group, 16));
}

/** 32 hex digits, the form DNS lists and prefix arithmetic work on. */
export function ipv6Hex(address: string): string {
  return ipv6Groups(address)
    .map((group) => group.toString(16).padStart(4, '0'))
    .join('');
}

export type Cidr = { address: string; prefix: number; family: 'ipv4' | 'ipv6' };

/**
 * "192.0.2.0/24", "2001:db8::/32", or a bare address (/32, /128). A range with host bits set
 * (10.1.2.3/8) is refused rather than silently widened or narrowed: it is almost always a typo.
 */
export function parseCidr(text: string): Cidr | string {
  const [rawAddress = '', prefixText, extra] = text.trim().split('/');
  if (extra !== undefined) return `not an address or CIDR range: ${JSON.stringify(text)}`;
  const address = unmapIPv4(rawAddress);
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (!family) return `not an IPv4 or IPv6 address: ${JSON.stringify(rawAddress)}`;
  const bits = family === 'ipv4' ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return `not a prefix length: ${JSON.stringify(text)}`;
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (prefix > bits) return `prefix longer than ${bits} bits: ${JSON.stringify(text)}`;
  const value = family === 'ipv4' ? BigInt(ipv4ToNumber(address)) : BigInt(`0x${ipv6Hex(address)}`);
  const hostBits = value & ((1n << BigInt(bits - prefix)) - 1n);
  if (hostBits !== 0n) return `host bits set in ${JSON.stringify(text)} (the network is ${networkOf(value, bits, prefix, family)})`;
  return { address, prefix, family };
}

function networkOf(value: bigint, bits: number, prefix: number, family: 'ipv4' | 'ipv6'): string {
  const network = (value >> BigInt(bits - prefix)) << BigInt(bits - prefix);
  if (family === 'ipv4') return `${[24n, 16n, 8n, 0n].map((shift) => (network >> shift) & 255n).join('.')}/${prefix}`;
  const groups = network.toString(16).padStart(32, '0').match(/.{4}/g)!.map((group) => group.replace(/^0+(?=.)/, ''));
  return `${groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')}/${prefix}`;
}
