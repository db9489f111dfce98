import { isIPv4, SocketAddress } from 'node:net';

/**
 * PROXY protocol headers as a load balancer sends them, built byte by byte from the
 * specification (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt), independent of
 * the proxy's parser.
 */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

export interface V2Options {
  /** 0x20 LOCAL, 0x21 PROXY (version 2 in the high nibble); other values test refusals. */
  versionCommand?: number;
  /** 0x11 TCP over IPv4, 0x21 TCP over IPv6, 0x00 UNSPEC, ... */
  family?: number;
  /** Raw TLVs appended after the addresses. */
  tlvs?: Buffer;
  /** Overrides the length field (hostile headers). */
  length?: number;
}

/** A v2 PROXY header from source to destination (both IPv4 or both IPv6). */
export function proxyV2(source: [string, number], destination: [string, number], options: V2Options = {}): Buffer {
  const ipv4 = isIPv4(source[0]);
  if (ipv4 !== isIPv4(destination[0])) throw new Error('source and destination of one family');
  const addresses = Buffer.concat([
    addressBytes(source[0]),
    addressBytes(destination[0]),
    port(source[1]),
    port(destination[1]),
  ]);
  return v2Header(options.family ?? (ipv4 ? 0x11 : 0x21), Buffer.concat([addresses, options.tlvs ?? Buffer.alloc(0)]), options);
}

/** A v2 LOCAL header (a balancer's health check), optionally with an address block it must ignore. */
export function localV2(body: Buffer = Buffer.alloc(0)): Buffer {
  return v2Header(0x00, body, { versionCommand: 0x20 });
}

export function v2Header(family: number, body: Buffer, options: V2Options = {}): Buffer {
  const fixed = Buffer.alloc(4);
  fixed[0] = options.versionCommand ?? 0x21;
  fixed[1] = family;
  fixed.writeUInt16BE(options.length ?? body.length, 2);
  return Buffer.concat([V2_SIGNATURE, fixed, body]);
}

/** One TLV: type, 16-bit length, value. */
export function tlv(type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(3);
  head[0] = type;
  head.writeUInt16BE(value.length, 1);
  return Buffer.concat([head, value]);
}

export function proxyV1(protocol: 'TCP4' | 'TCP6', source: [string, number], destination: [string, number]): Buffer {
  return Buffer.from(`PROXY ${protocol} ${source[0]} ${destination[0]} ${source[1]} ${destination[1]}\r\n`, 'latin1');
}

function addressBytes(address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  // Expanded through SocketAddress, so "::" forms need no parser of our own here.
  const full = new SocketAddress({ address, family: 'ipv6' }).address;
  const [head = '', tail = ''] = full.split('::');
  // An IPv4 tail (::ffff:192.0.2.1) is two groups.
  const groups = (text: string) => (text ? text.split(':') : []).flatMap((group) => {
    if (!group.includes('.')) return [group];
    const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
    return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
  });
  const left = groups(head);
  const right = groups(tail);
  const all = full.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  const bytes = Buffer.alloc(16);
  all.forEach((group, index) => bytes.writeUInt16BE(parseInt(group, 16), index * 2));
  return bytes;
}

function port(value: number): Buffer {
  const bytes = Buffer.alloc(2);
  bytes.writeUInt16BE(value);
  return bytes;
}
