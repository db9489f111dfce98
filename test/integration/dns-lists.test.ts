import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { DnsLists, dnsListsSchema } from '../../src/screen/dns-lists.js';

/**
 * DnsLists against Debian's rbldnsd, started by scripts/services.sh with the zones of
 * scripts/README.md ("rbldnsd").
 */
function rbldnsd(): string {
  const port = process.env.SSP_RBLDNSD_PORT;
  if (!port) throw new Error('SSP_RBLDNSD_PORT is not set: run the tests with "npm test" (scripts/with-services.sh starts the daemons)');
  return `127.0.0.1:${port}`;
}

const silent = pino({ level: 'silent' });

function lists(config: Record<string, unknown>, servers = [rbldnsd()]): DnsLists {
  return new DnsLists(dnsListsSchema.parse({ resolver: { servers, timeout: '1s' }, ...config }), silent);
}

const zones = [
  { zone: 'block.test', name: 'Block List', weight: 2, ipv6: true },
  { zone: 'allow.test', weight: -3 },
  { zone: 'error.test', weight: 5 },
  { zone: 'multi.test', answers: ['127.0.0.11'] },
];

describe('DNS lists against rbldnsd', () => {
  test('a listed address scores the zone weight and names the zone', async () => {
    const result = await lists({ zones }).check('127.0.0.20');
    assert.deepEqual(result, {
      score: 2,
      listed: true,
      allowlisted: false,
      hits: [{ zone: 'block.test', name: 'Block List', weight: 2, answers: ['127.0.0.2'] }],
      errors: [],
    });
  });

  test('an address on no list scores 0 with no errors', async () => {
    const result = await lists({ zones }).check('127.0.0.2');
    assert.deepEqual([result.score, result.listed, result.allowlisted, result.hits, result.errors], [0, false, false, [], []]);
  });

  test('an allow-list zone with a negative weight allow-lists', async () => {
    const result = await lists({ zones }).check('127.0.0.30');
    assert.deepEqual([result.score, result.allowlisted, result.hits.map((hit) => hit.zone)], [-3, true, ['allow.test']]);
  });

  test("Spamhaus's error answer 127.255.255.254 is no listing and is reported", async () => {
    const result = await lists({ zones }).check('127.0.0.40');
    assert.deepEqual([result.score, result.listed, result.hits], [0, false, []]);
    assert.deepEqual(result.errors.map(({ zone, kind }) => ({ zone, kind })), [{ zone: 'error.test', kind: 'error-answer' }]);
  });

  test('of two answers, the one the zone counts lists and the other is reported', async () => {
    const result = await lists({ zones }).check('127.0.0.50');
    assert.deepEqual(result.hits, [{ zone: 'multi.test', name: 'multi.test', weight: 1, answers: ['127.0.0.11'] }]);
    assert.deepEqual(result.errors.map(({ zone, kind }) => ({ zone, kind })), [{ zone: 'multi.test', kind: 'not-counted' }]);
    assert.match(result.errors[0]!.detail, /127\.0\.0\.3/);
  });

  test('an IPv6 client (::1) is looked up nibble-reversed on the zone marked ipv6, and only there', async () => {
    const result = await lists({ zones: [...zones, { zone: 'block.test', name: 'IPv4 only' }] }).check('::1');
    assert.deepEqual(result.hits, [{ zone: 'block.test', name: 'Block List', weight: 2, answers: ['127.0.0.2'] }]);
  });

  test('an IPv4-mapped client is looked up as IPv4', async () => {
    assert.equal((await lists({ zones }).check('::ffff:127.0.0.21')).score, 2);
  });
});

describe('DNS lists when the DNS server does not answer', () => {
  let silentServer: Socket;
  let closedPort: number;

  before(async () => {
    // Takes queries and never answers: every lookup runs into the timeout.
    silentServer = createSocket('udp4');
    silentServer.bind(0, '127.0.0.1');
    await once(silentServer, 'listening');
    // A port that was free a moment ago: the kernel answers port unreachable.
    const probe = createSocket('udp4');
    probe.bind(0, '127.0.0.1');
    await once(probe, 'listening');
    closedPort = probe.address().port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  });

  after(() => silentServer.close());

  for (const [what, server, kinds] of [
    ['a server that never answers', () => `127.0.0.1:${silentServer.address().port}`, ['timeout']],
    ['nothing on the port', () => `127.0.0.1:${closedPort}`, ['timeout', 'failure']],
  ] as const) {
    test(`${what}: score 0, every zone reported, back within the timeout`, async () => {
      const timeout = 300;
      const dns = new DnsLists(dnsListsSchema.parse({ resolver: { servers: [server()], timeout: `${timeout}ms` }, zones }), silent);
      const started = performance.now();
      const result = await dns.check('127.0.0.20');
      // Generous: only "it came back instead of hanging" is asserted, never a timing.
      assert.ok(performance.now() - started < 5 * timeout, `took ${performance.now() - started} ms`);
      assert.deepEqual([result.score, result.listed, result.hits], [0, false, []]);
      assert.deepEqual(result.errors.map((error) => error.zone), zones.map((zone) => zone.zone));
      for (const error of result.errors) assert.ok((kinds as readonly string[]).includes(error.kind), `${error.zone}: ${error.kind} ${error.detail}`);
    });
  }
});
