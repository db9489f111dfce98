import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/errors.js';
import { parseProxyHeader, V1_MAX_LENGTH, V2_MAX_LENGTH } from '../../../src/server/proxy-protocol.js';
import { localV2, proxyV1, proxyV2, tlv, v2Header, V2_SIGNATURE } from '../../helpers/proxy-header.js';

const SMTP = Buffer.from('EHLO client.example.net\r\n');
const latin1 = (text: string) => Buffer.from(text, 'latin1');

describe('PROXY protocol v1', () => {
  const cases: [string, string, ReturnType<typeof parseProxyHeader>][] = [
    ['TCP4', 'PROXY TCP4 203.0.113.7 192.0.2.1 56324 25\r\n', { kind: 'proxy', source: { address: '203.0.113.7', port: 56324 }, destination: { address: '192.0.2.1', port: 25 }, length: 43 }],
    ['TCP6, compressed and lower-cased', 'PROXY TCP6 2001:DB8:0:0:0:0:0:7 2001:db8::1 65535 25\r\n', { kind: 'proxy', source: { address: '2001:db8::7', port: 65535 }, destination: { address: '2001:db8::1', port: 25 }, length: 54 }],
    ['TCP6 with an IPv4-mapped address, as smtp-server shows a direct client', 'PROXY TCP6 ::ffff:203.0.113.7 ::ffff:192.0.2.1 1 25\r\n', { kind: 'proxy', source: { address: '203.0.113.7', port: 1 }, destination: { address: '192.0.2.1', port: 25 }, length: 53 }],
    ['UNKNOWN: the connection\'s own addresses', 'PROXY UNKNOWN\r\n', { kind: 'local', length: 15 }],
    ['UNKNOWN with addresses that mean nothing', 'PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n', { kind: 'local', length: 59 }],
  ];
  for (const [name, header, expected] of cases) {
    test(name, () => assert.deepEqual(parseProxyHeader(latin1(header)), expected));
  }

  test('the longest header the specification allows (107 bytes) is read', () => {
    const address = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
    const header = `PROXY UNKNOWN ${address} ${address} 65535 65535\r\n`;
    assert.equal(header.length, V1_MAX_LENGTH);
    assert.deepEqual(parseProxyHeader(latin1(header)), { kind: 'local', length: 107 });
  });

  test('whatever follows the header is not part of it', () => {
    const header = proxyV1('TCP4', ['203.0.113.7', 1025], ['192.0.2.1', 25]);
    assert.deepEqual(parseProxyHeader(Buffer.concat([header, SMTP])), parseProxyHeader(header));
  });

  test('every prefix of a header is incomplete', () => {
    const header = proxyV1('TCP4', ['203.0.113.7', 1025], ['192.0.2.1', 25]);
    for (let length = 1; length < header.length; length++) {
      assert.deepEqual(parseProxyHeader(header.subarray(0, length)), { kind: 'incomplete' }, `${length} bytes`);
    }
  });

  const hostile: [string, string, RegExp][] = [
    ['no CRLF within 107 bytes', `PROXY TCP4 ${'1'.repeat(120)}`, /longer than 107 bytes/],
    ['a line of 108 bytes', `PROXY TCP4 203.0.113.7 192.0.2.1 1 2${' '.repeat(108 - 38)}\r\n`, /longer than 107 bytes/],
    ['a bare LF', 'PROXY TCP4 203.0.113.7 192.0.2.1 1 2\n', /control/],
    ['a NUL', 'PROXY TCP4 203.0.113.7\0', /control/],
    ['an unknown protocol', 'PROXY UDP4 203.0.113.7 192.0.2.1 1 2\r\n', /unknown protocol/],
    ['lower case', 'PROXY tcp4 203.0.113.7 192.0.2.1 1 2\r\n', /unknown protocol/],
    ['a missing port', 'PROXY TCP4 203.0.113.7 192.0.2.1 1\r\n', /two addresses and two ports/],
    ['two spaces', 'PROXY TCP4 203.0.113.7  192.0.2.1 1 2\r\n', /two addresses and two ports/],
    ['an IPv6 address for TCP4', 'PROXY TCP4 2001:db8::7 192.0.2.1 1 2\r\n', /not IPv4/],
    ['an IPv4 address for TCP6', 'PROXY TCP6 203.0.113.7 2001:db8::1 1 2\r\n', /not IPv6/],
    ['a host name', 'PROXY TCP4 evil.example 192.0.2.1 1 2\r\n', /not IPv4/],
    ['an address with a zone', 'PROXY TCP6 fe80::1%eth0 2001:db8::1 1 2\r\n', /not IPv6/],
    ['a port over 65535', 'PROXY TCP4 203.0.113.7 192.0.2.1 65536 25\r\n', /invalid port/],
    ['a port with a leading zero', 'PROXY TCP4 203.0.113.7 192.0.2.1 025 25\r\n', /invalid port/],
    ['a negative port', 'PROXY TCP4 203.0.113.7 192.0.2.1 -1 25\r\n', /invalid port/],
    ['SMTP instead of a header', 'EHLO client.example.net\r\n', /not a PROXY protocol header/],
    ['PROXY without its space', 'PROXYTCP4\r\n', /not a PROXY protocol header/],
    ['TLS instead of a header', '\x16\x03\x01\x02\x00', /not a PROXY protocol header/],
  ];
  for (const [name, header, reason] of hostile) {
    test(`refused: ${name}`, () => {
      const result = parseProxyHeader(latin1(header));
      assert.equal(result.kind, 'invalid');
      assert.match(result.kind === 'invalid' ? result.reason : '', reason);
    });
  }
});

describe('PROXY protocol v2', () => {
  test('PROXY over TCP/IPv4', () => {
    const header = proxyV2(['203.0.113.7', 56324], ['192.0.2.1', 25]);
    assert.equal(header.length, 16 + 12);
    assert.deepEqual(parseProxyHeader(header), {
      kind: 'proxy',
      source: { address: '203.0.113.7', port: 56324 },
      destination: { address: '192.0.2.1', port: 25 },
      length: 28,
    });
  });

  test('PROXY over TCP/IPv6, in the form smtp-server gives a direct client', () => {
    const header = proxyV2(['2001:db8::7', 65535], ['2001:db8:0:0:1:0:0:1', 25]);
    assert.deepEqual(parseProxyHeader(header), {
      kind: 'proxy',
      source: { address: '2001:db8::7', port: 65535 },
      destination: { address: '2001:db8::1:0:0:1', port: 25 },
      length: 16 + 36,
    });
  });

  test('an IPv4-mapped IPv6 address is the IPv4 address', () => {
    const result = parseProxyHeader(proxyV2(['::ffff:203.0.113.7', 1], ['::ffff:192.0.2.1', 25]));
    assert.equal(result.kind === 'proxy' && result.source.address, '203.0.113.7');
    assert.equal(result.kind === 'proxy' && result.destination.address, '192.0.2.1');
  });

  test('TLVs are skipped and counted in the length', () => {
    const tlvs = Buffer.concat([tlv(0x05, Buffer.from('unique-id-123')), tlv(0x04, Buffer.alloc(0)), tlv(0xea, Buffer.from('vpce-0123'))]);
    const header = proxyV2(['203.0.113.7', 1025], ['192.0.2.1', 25], { tlvs });
    const result = parseProxyHeader(Buffer.concat([header, SMTP]));
    assert.equal(result.kind, 'proxy');
    assert.equal(result.kind === 'proxy' && result.length, header.length);
    assert.equal(result.kind === 'proxy' && result.source.address, '203.0.113.7');
  });

  test('LOCAL (a health check), with or without an address block, uses the connection\'s own addresses', () => {
    assert.deepEqual(parseProxyHeader(localV2()), { kind: 'local', length: 16 });
    const withAddresses = proxyV2(['203.0.113.7', 1], ['192.0.2.1', 25], { versionCommand: 0x20 });
    assert.deepEqual(parseProxyHeader(withAddresses), { kind: 'local', length: 28 });
  });

  test('PROXY with AF_UNSPEC uses the connection\'s own addresses', () => {
    assert.deepEqual(parseProxyHeader(v2Header(0x00, Buffer.alloc(0))), { kind: 'local', length: 16 });
  });

  test('the header stops at its length; what follows is SMTP', () => {
    const header = proxyV2(['203.0.113.7', 1025], ['192.0.2.1', 25]);
    const result = parseProxyHeader(Buffer.concat([header, SMTP]));
    assert.equal(result.kind === 'proxy' && result.length, header.length);
  });

  test('every prefix of a header is incomplete, the signature included', () => {
    const header = proxyV2(['2001:db8::7', 1025], ['2001:db8::1', 25], { tlvs: tlv(0x05, Buffer.from('id')) });
    for (let length = 1; length < header.length; length++) {
      assert.deepEqual(parseProxyHeader(header.subarray(0, length)), { kind: 'incomplete' }, `${length} bytes`);
    }
  });

  test('the longest header read is read; a length beyond it is refused before its bytes arrive', () => {
    const longest = v2Header(0x11, Buffer.concat([proxyV2(['203.0.113.7', 1], ['192.0.2.1', 25]).subarray(16), Buffer.alloc(V2_MAX_LENGTH - 28)]));
    assert.equal(parseProxyHeader(longest).kind, 'proxy');
    const tooLong = v2Header(0x11, Buffer.alloc(12), { length: V2_MAX_LENGTH - 16 + 1 });
    const result = parseProxyHeader(tooLong);
    assert.equal(result.kind, 'invalid');
    assert.match(result.kind === 'invalid' ? result.reason : '', /longer than/);
  });

  const hostile: [string, Buffer, RegExp][] = [
    ['a signature with one byte wrong', Buffer.concat([V2_SIGNATURE.subarray(0, 11), Buffer.from([0x0b]), Buffer.alloc(4)]), /not a PROXY protocol header/],
    ['version 1 in the binary form', proxyV2(['203.0.113.7', 1], ['192.0.2.1', 25], { versionCommand: 0x11 }), /version other than 2/],
    ['version 3', proxyV2(['203.0.113.7', 1], ['192.0.2.1', 25], { versionCommand: 0x31 }), /version other than 2/],
    ['an unknown command', proxyV2(['203.0.113.7', 1], ['192.0.2.1', 25], { versionCommand: 0x22 }), /unknown command/],
    ['UDP over IPv4', proxyV2(['203.0.113.7', 1], ['192.0.2.1', 25], { family: 0x12 }), /TCP over IPv4 or IPv6/],
    ['a Unix socket', v2Header(0x31, Buffer.alloc(216)), /TCP over IPv4 or IPv6/],
    ['an unknown family', v2Header(0x41, Buffer.alloc(12)), /TCP over IPv4 or IPv6/],
    ['IPv4 with a length too short for its addresses', v2Header(0x11, Buffer.alloc(11)), /too short/],
    ['IPv6 with the length of IPv4 addresses', v2Header(0x21, Buffer.alloc(12)), /too short/],
  ];
  for (const [name, header, reason] of hostile) {
    test(`refused: ${name}`, () => {
      const result = parseProxyHeader(header);
      assert.equal(result.kind, 'invalid');
      assert.match(result.kind === 'invalid' ? result.reason : '', reason);
    });
  }

  test('refused as soon as the bytes can no longer become a header', () => {
    assert.equal(parseProxyHeader(Buffer.from('\r\n\r\nX')).kind, 'invalid');
    assert.equal(parseProxyHeader(Buffer.from('PROX!')).kind, 'invalid');
    assert.equal(parseProxyHeader(Buffer.concat([V2_SIGNATURE, Buffer.from([0x21])])).kind, 'incomplete');
    assert.equal(parseProxyHeader(Buffer.concat([V2_SIGNATURE, Buffer.from([0x11])])).kind, 'incomplete');
  });
});

describe('listen.proxyProtocol', () => {
  const parse = (raw: unknown) => parseConfig({ listen: { proxyProtocol: raw } }, new Map());

  test('off unless configured', () => {
    assert.equal(parseConfig({}, new Map()).listen.proxyProtocol, undefined);
  });

  test('ranges and single addresses, IPv4 and IPv6; the timeout defaults to 5 s', () => {
    assert.deepEqual(parse({ trusted: ['10.0.0.0/8', '192.0.2.5', '2001:db8::/32', '::1'] }).listen.proxyProtocol, {
      trusted: ['10.0.0.0/8', '192.0.2.5', '2001:db8::/32', '::1'],
      timeout: 5000,
    });
    assert.equal(parse({ trusted: ['10.0.0.0/8'], timeout: '2s' }).listen.proxyProtocol?.timeout, 2000);
  });

  const refused: [string, unknown, RegExp][] = [
    ['no trusted peers', { trusted: [] }, /listen\.proxyProtocol\.trusted/],
    ['trusted missing', {}, /listen\.proxyProtocol\.trusted/],
    ['a host name', { trusted: ['lb.example.net'] }, /listen\.proxyProtocol\.trusted\[0\]: an address or CIDR range/],
    ['a prefix too long', { trusted: ['10.0.0.0/33'] }, /listen\.proxyProtocol\.trusted\[0\]/],
    ['an unknown key', { trusted: ['10.0.0.0/8'], version: 2 }, /version/],
    ['a timeout that is no duration', { trusted: ['10.0.0.0/8'], timeout: 'soon' }, /listen\.proxyProtocol\.timeout/],
  ];
  for (const [name, raw, pattern] of refused) {
    test(`refused: ${name}`, () => {
      assert.throws(() => parse(raw), (error: unknown) => error instanceof ConfigError && pattern.test(error.message));
    });
  }
});
