import { isIPv4, isIPv6, SocketAddress } from 'node:net';

/**
 * The PROXY protocol header a load balancer sends before the client's first byte
 * (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt), v1 (text) and v2 (binary).
 * Pure: it looks at the bytes received so far and says whether they are a whole header, the
 * start of one, or something that can never become one.
 */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export type ProxyHeader =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'invalid'; readonly reason: string }
  /** `length`: the header's bytes; whatever follows belongs to SMTP. */
  | { readonly kind: 'proxy'; readonly source: Endpoint; readonly destination: Endpoint; readonly length: number }
  /** The connection is the balancer's own (a health check, v1 UNKNOWN): its real addresses count. */
  | { readonly kind: 'local'; readonly length: number };

/** The longest v1 line the specification allows, CRLF included. */
export const V1_MAX_LENGTH = 107;
/**
 * The longest v2 header we read. Addresses take at most 216 bytes; the TLVs balancers add (HAProxy's
 * unique id, AWS's endpoint id, Azure's link id) a few hundred. A longer one only costs memory.
 */
export const V2_MAX_LENGTH = 16 + 2048;

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_SIGNATURE = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');
const V2_HEADER = 16;
const INCOMPLETE: ProxyHeader = Object.freeze({ kind: 'incomplete' });

const invalid = (reason: string): ProxyHeader => ({ kind: 'invalid', reason });

export function parseProxyHeader(buffer: Buffer): ProxyHeader {
  if (startsLike(buffer, V2_SIGNATURE)) return buffer.length < V2_SIGNATURE.length ? INCOMPLETE : parseV2(buffer);
  if (startsLike(buffer, V1_PREFIX)) return buffer.length < V1_PREFIX.length ? INCOMPLETE : parseV1(buffer);
  return invalid('not a PROXY protocol header');
}

/** The buffer so far agrees with `prefix` (it may still be shorter than it). */
function startsLike(buffer: Buffer, prefix: Buffer): boolean {
  const length = Math.min(buffer.length, prefix.length);
  return buffer.length > 0 && buffer.compare(prefix, 0, length, 0, length) === 0;
}

function parseV1(buffer: Buffer): ProxyHeader {
  const window = buffer.subarray(0, V1_MAX_LENGTH);
  const end = window.indexOf('\r\n');
  if (end === -1) {
    if (buffer.length >= V1_MAX_LENGTH) return invalid('v1 header longer than 107 bytes');
    // A lone CR may be followed by its LF in the next packet; any other control byte never fits.
    const text = window.toString('latin1');
    return /[^\x20-\x7e]/.test(text.endsWith('\r') ? text.slice(0, -1) : text) ? invalid('v1 header with a control or non-ASCII byte') : INCOMPLETE;
  }
  const line = window.toString('latin1', 0, end);
  if (/[^\x20-\x7e]/.test(line)) return invalid('v1 header with a control or non-ASCII byte');
  const length = end + 2;
  const [, protocol, ...fields] = line.split(' ');
  // UNKNOWN: the balancer could not tell (a client over a protocol it does not know); the
  // specification has the receiver use the connection's own addresses, whatever follows.
  if (protocol === 'UNKNOWN') return { kind: 'local', length };
  if (protocol !== 'TCP4' && protocol !== 'TCP6') return invalid('v1 header with an unknown protocol');
  if (fields.length !== 4) return invalid('v1 header without exactly two addresses and two ports');
  const [sourceAddress, destinationAddress, sourcePort, destinationPort] = fields as [string, string, string, string];
  const isFamily = protocol === 'TCP4' ? isIPv4 : isIPv6;
  if (!isFamily(sourceAddress) || !isFamily(destinationAddress) || sourceAddress.includes('%') || destinationAddress.includes('%')) {
    return invalid(`v1 header with an address that is not ${protocol === 'TCP4' ? 'IPv4' : 'IPv6'}`);
  }
  const ports = [sourcePort, destinationPort].map(v1Port);
  if (ports[0] === undefined || ports[1] === undefined) return invalid('v1 header with an invalid port');
  return {
    kind: 'proxy',
    source: { address: canonical(sourceAddress), port: ports[0] },
    destination: { address: canonical(destinationAddress), port: ports[1] },
    length,
  };
}

function v1Port(text: string): number | undefined {
  if (!/^(?:0|[1-9]\d{0,4})$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

const LOCAL = 0x0;
const PROXY = 0x1;
const UNSPEC = 0x00;
const TCP_OVER_IPV4 = 0x11;
const TCP_OVER_IPV6 = 0x21;

function parseV2(buffer: Buffer): ProxyHeader {
  if (buffer.length < V2_HEADER) return INCOMPLETE;
  const version = buffer[12]! >> 4;
  const command = buffer[12]! & 0x0f;
  if (version !== 2) return invalid('v2 header with a version other than 2');
  if (command !== LOCAL && command !== PROXY) return invalid('v2 header with an unknown command');
  const length = V2_HEADER + buffer.readUInt16BE(14);
  if (length > V2_MAX_LENGTH) return invalid(`v2 header longer than ${V2_MAX_LENGTH} bytes`);
  if (buffer.length < length) return INCOMPLETE;
  // LOCAL: the balancer's own connection (a health check); its address block, if any, means nothing.
  if (command === LOCAL) return { kind: 'local', length };
  const family = buffer[13]!;
  // UNSPEC: the balancer does not know the client's address; the specification has us use the
  // connection's own addresses, as for LOCAL.
  if (family === UNSPEC) return { kind: 'local', length };
  // UDP makes no sense for SMTP, and a Unix-socket client has no address that could drive limits.
  if (family !== TCP_OVER_IPV4 && family !== TCP_OVER_IPV6) return invalid('v2 header with an address family or transport other than TCP over IPv4 or IPv6');
  const size = family === TCP_OVER_IPV4 ? 4 : 16;
  if (length < V2_HEADER + 2 * size + 4) return invalid('v2 header too short for its addresses');
  const at = V2_HEADER;
  const address = (offset: number) => binaryAddress(buffer.subarray(offset, offset + size));
  return {
    kind: 'proxy',
    source: { address: address(at), port: buffer.readUInt16BE(at + 2 * size) },
    destination: { address: address(at + size), port: buffer.readUInt16BE(at + 2 * size + 2) },
    length,
  };
}

function binaryAddress(bytes: Buffer): string {
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return canonical(groups.join(':'));
}

/**
 * The form smtp-server gives a direct client's address: an IPv4-mapped IPv6 address as plain
 * IPv4, other IPv6 addresses in RFC 5952's compressed lower-case form.
 */
function canonical(address: string): string {
  if (isIPv4(address)) return address;
  const text = new SocketAddress({ address, family: 'ipv6' }).address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(text);
  return mapped ? mapped[1]! : text;
}
