import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Logger } from 'pino';
import { answerFilter, isErrorAnswer } from '../../../src/screen/dns-answer-filter.js';
import { DnsCache, MAX_TTL_MS, MIN_TTL_MS } from '../../../src/screen/dns-cache.js';
import { DnsLists, dnsListsSchema, listedReply, type Resolve4 } from '../../../src/screen/dns-lists.js';
import { queryName } from '../../../src/screen/dns-query-name.js';
import { formatReply } from '../../../src/smtp/reply.js';

type Answers = Record<string, string[] | Error | 'hang'>;

/** A resolver answering from a table (names absent: NXDOMAIN), counting the queries it got. */
function fakeResolver(answers: Answers, ttl = 300): Resolve4 & { queries: string[] } {
  const queries: string[] = [];
  const resolve = async (name: string) => {
    queries.push(name);
    const answer = answers[name];
    if (answer === 'hang') return new Promise<never>(() => {});
    if (answer instanceof Error) throw answer;
    if (answer === undefined) throw Object.assign(new Error(`queryA ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    return answer.map((address) => ({ address, ttl }));
  };
  return Object.assign(resolve, { queries });
}

/** Collects warn(fields, message) calls; pino's overloaded LogFn type is wider than what DnsLists uses. */
function captureLogger() {
  const lines: { fields: Record<string, unknown>; message: string }[] = [];
  const warn = (fields: Record<string, unknown>, message: string) => lines.push({ fields, message });
  return { lines, warn: warn as unknown as Logger['warn'] };
}

function lists(config: unknown, answers: Answers, options: { now?: () => number } = {}) {
  const resolve4 = fakeResolver(answers);
  const logger = captureLogger();
  return { dns: new DnsLists(dnsListsSchema.parse(config), logger, { resolve4, ...options }), resolve4, logger };
}

describe('answer filters', () => {
  test('without a list, any 127.0.0.0/8 answer counts except the error answers', () => {
    const filter = answerFilter();
    assert.deepEqual(
      ['127.0.0.2', '127.0.0.11', '127.1.2.3', '127.255.254.255', '127.255.255.254', '127.255.255.0', '10.0.0.2', '::1'].map(filter),
      [true, true, true, true, false, false, false, false],
    );
  });

  test('addresses, ranges and CIDR, and never an error answer even inside a range', () => {
    const filter = answerFilter(['127.0.0.2', '127.0.0.4-127.0.0.7', '127.0.1.0/30', '127.0.0.0/8']);
    const narrow = answerFilter(['127.0.0.2', '127.0.0.4-127.0.0.7', '127.0.1.0/30']);
    assert.deepEqual(['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.7', '127.0.0.8', '127.0.1.3', '127.0.1.4'].map(narrow), [
      true, false, true, true, false, true, false,
    ]);
    assert.equal(filter('127.255.255.254'), false);
    assert.equal(isErrorAnswer('127.255.255.252'), true);
    assert.equal(isErrorAnswer('127.255.254.1'), false);
  });

  for (const [bad, message] of [
    ['127.0.0.11-127.0.0.2', /range ends before it starts/],
    ['127.0.0.2/24', /host bits set/],
    ['::1', /DNS list answers are IPv4/],
    ['listed', /not an IPv4 or IPv6 address/],
  ] as const) {
    test(`the schema refuses the answer ${bad}`, () => {
      const result = dnsListsSchema.safeParse({ zones: [{ zone: 'zen.example', answers: [bad] }] });
      assert.equal(result.success, false);
      assert.match(result.error!.issues[0]!.message, message);
      assert.deepEqual(result.error!.issues[0]!.path, ['zones', 0, 'answers', 0]);
    });
  }
});

describe('dnsListsSchema', () => {
  test('defaults: system resolvers, 2 s, threshold 1, allow-list threshold -1, no zones; zone weight 1, IPv4 only', () => {
    assert.deepEqual(dnsListsSchema.parse(undefined), { resolver: { servers: [], timeout: 2000 }, threshold: 1, allowlistThreshold: -1, zones: [] });
    assert.deepEqual(dnsListsSchema.parse({ zones: [{ zone: 'zen.example.' }] }).zones, [{ zone: 'zen.example', weight: 1, ipv6: false }]);
  });

  test('refuses a server that is no address, an allow-list threshold not below the threshold, unknown keys', () => {
    const messages = (config: unknown) => JSON.stringify(dnsListsSchema.safeParse(config).error?.issues);
    assert.match(messages({ resolver: { servers: ['dns.example.org'] } }), /a DNS server address/);
    assert.match(messages({ threshold: 1, allowlistThreshold: 1 }), /allowlistThreshold must be below threshold/);
    assert.match(messages({ zones: [{ zone: 'zen.example', wieght: 2 }] }), /wieght/);
    assert.match(messages({ zones: [{ zone: 'zen example' }] }), /a DNS zone/);
    assert.equal(dnsListsSchema.safeParse({ resolver: { servers: ['127.0.0.1:10053', '[::1]:53', '192.0.2.53'] } }).success, true);
  });
});

describe('queryName', () => {
  test('IPv4 octets reversed; an IPv4-mapped client as IPv4', () => {
    assert.equal(queryName('192.0.2.99', 'zen.example', false), '99.2.0.192.zen.example');
    assert.equal(queryName('::ffff:192.0.2.99', 'zen.example', false), '99.2.0.192.zen.example');
  });

  test('IPv6 nibbles reversed (RFC 5782), only on zones that list IPv6', () => {
    assert.equal(queryName('2001:db8:1:2::ab', 'v6.example', true), 'b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.v6.example');
    assert.equal(queryName('::1', 'v6.example', true), `1${'.0'.repeat(31)}.v6.example`);
    assert.equal(queryName('2001:db8::1', 'zen.example', false), undefined);
  });
});

describe('DnsCache', () => {
  test('keeps an answer for its TTL, clamped to [60 s, 1 h], then forgets it', () => {
    let now = 1_000_000;
    const cache = new DnsCache({ now: () => now });
    cache.set('short', ['127.0.0.2'], 5);
    cache.set('long', ['127.0.0.2'], 86_400);
    cache.set('nxdomain', [], 0);
    now += MIN_TTL_MS - 1;
    assert.deepEqual([cache.get('short'), cache.get('nxdomain')], [['127.0.0.2'], []]);
    now += 1;
    assert.deepEqual([cache.get('short'), cache.get('nxdomain'), cache.get('long')], [undefined, undefined, ['127.0.0.2']]);
    now += MAX_TTL_MS - MIN_TTL_MS;
    assert.equal(cache.get('long'), undefined);
  });

  test('drops the oldest entries beyond its size', () => {
    const cache = new DnsCache({ maxEntries: 2 });
    cache.set('a', ['127.0.0.2'], 300);
    cache.set('b', ['127.0.0.2'], 300);
    cache.set('c', ['127.0.0.2'], 300);
    assert.deepEqual([cache.get('a'), cache.size], [undefined, 2]);
    assert.ok(cache.get('b') && cache.get('c'));
  });
});

describe('DnsLists', () => {
  const client = '192.0.2.7';
  const q = (zone: string) => `7.2.0.192.${zone}`;

  test('each listing zone adds its weight once; the sum against both thresholds', async () => {
    const { dns } = lists(
      {
        threshold: 3,
        zones: [
          { zone: 'zen.example', weight: 2, answers: ['127.0.0.2-127.0.0.11'] },
          { zone: 'bl.example', name: 'Example BL', weight: 2 },
          { zone: 'quiet.example', weight: 5 },
        ],
      },
      { [q('zen.example')]: ['127.0.0.2', '127.0.0.4', '127.0.0.10'], [q('bl.example')]: ['127.0.0.2'] },
    );
    const result = await dns.check(client);
    assert.deepEqual(result, {
      score: 4,
      listed: true,
      allowlisted: false,
      hits: [
        { zone: 'zen.example', name: 'zen.example', weight: 2, answers: ['127.0.0.2', '127.0.0.4', '127.0.0.10'] },
        { zone: 'bl.example', name: 'Example BL', weight: 2, answers: ['127.0.0.2'] },
      ],
      errors: [],
    });
  });

  test('a negative weight allow-lists; a score between the thresholds is neither', async () => {
    const config = { zones: [{ zone: 'wl.example', weight: -2 }, { zone: 'bl.example', weight: 1 }] };
    const both = await lists(config, { [q('wl.example')]: ['127.0.10.1'], [q('bl.example')]: ['127.0.0.2'] }).dns.check(client);
    assert.deepEqual([both.score, both.listed, both.allowlisted], [-1, false, true]);
    const none = await lists(config, {}).dns.check(client);
    assert.deepEqual([none.score, none.listed, none.allowlisted, none.hits, none.errors], [0, false, false, [], []]);
  });

  test('an error answer is never a listing: reported and logged, at most once a minute per zone', async () => {
    let now = 0;
    const { dns, logger } = lists(
      { zones: [{ zone: 'zen.example' }] },
      { [q('zen.example')]: ['127.255.255.254'], '8.2.0.192.zen.example': ['127.255.255.254'], '9.2.0.192.zen.example': ['127.255.255.254'] },
      { now: () => now },
    );
    const result = await dns.check(client);
    assert.deepEqual([result.score, result.listed, result.hits], [0, false, []]);
    assert.equal(result.errors.length, 1);
    assert.equal(result.errors[0]!.kind, 'error-answer');
    assert.match(result.errors[0]!.detail, /127\.255\.255\.254/);
    await dns.check('192.0.2.8');
    assert.equal(logger.lines.length, 1);
    assert.deepEqual(logger.lines[0]!.fields, { zone: 'zen.example', kind: 'error-answer', client });
    assert.match(logger.lines[0]!.message, /DNS list zen\.example: error answer 127\.255\.255\.254.*not counted/);
    now += 60_000;
    await dns.check('192.0.2.9');
    assert.equal(logger.lines.length, 2);
  });

  test('an answer outside the zone filter counts nothing and is reported; a counted one beside it still lists', async () => {
    const { dns } = lists(
      { zones: [{ zone: 'zen.example', answers: ['127.0.0.2'] }] },
      { [q('zen.example')]: ['127.0.0.2', '127.0.0.4'], '8.2.0.192.zen.example': ['127.0.0.4'] },
    );
    const mixed = await dns.check(client);
    assert.deepEqual([mixed.score, mixed.hits[0]!.answers, mixed.errors.map((e) => e.kind)], [1, ['127.0.0.2'], ['not-counted']]);
    const outside = await dns.check('192.0.2.8');
    assert.deepEqual([outside.score, outside.errors.map((e) => e.kind)], [0, ['not-counted']]);
  });

  test('a failing or hanging zone counts nothing and the others still count, within the timeout', async () => {
    const { dns, logger } = lists(
      { resolver: { timeout: '50ms' }, zones: [{ zone: 'slow.example' }, { zone: 'broken.example' }, { zone: 'bl.example' }] },
      {
        [q('slow.example')]: 'hang',
        [q('broken.example')]: Object.assign(new Error('queryA ESERVFAIL'), { code: 'ESERVFAIL' }),
        [q('bl.example')]: ['127.0.0.2'],
      },
    );
    const result = await dns.check(client);
    assert.deepEqual([result.score, result.listed], [1, true]);
    assert.deepEqual(
      result.errors.map(({ zone, kind }) => [zone, kind]),
      [
        ['slow.example', 'timeout'],
        ['broken.example', 'failure'],
      ],
    );
    assert.equal(result.errors[1]!.detail, 'ESERVFAIL');
    assert.equal(logger.lines.length, 2);
  });

  test('answers and NXDOMAIN are cached; failures are asked again', async () => {
    const { dns, resolve4 } = lists(
      { zones: [{ zone: 'bl.example' }, { zone: 'broken.example' }] },
      { [q('bl.example')]: ['127.0.0.2'], [q('broken.example')]: Object.assign(new Error('refused'), { code: 'EREFUSED' }) },
    );
    await dns.check(client);
    await dns.check(client);
    await dns.check('192.0.2.8');
    await dns.check('192.0.2.8');
    // 192.0.2.8 is NXDOMAIN in both zones: asked once each.
    assert.deepEqual(resolve4.queries, [q('bl.example'), q('broken.example'), q('broken.example'), '8.2.0.192.bl.example', '8.2.0.192.broken.example']);
  });

  test('concurrent checks of one client share one query per zone', async () => {
    const { dns, resolve4 } = lists({ zones: [{ zone: 'bl.example' }] }, { [q('bl.example')]: ['127.0.0.2'] });
    const results = await Promise.all([dns.check(client), dns.check(client), dns.check(client)]);
    assert.deepEqual(results.map((r) => r.score), [1, 1, 1]);
    assert.equal(resolve4.queries.length, 1);
  });

  test('IPv6 clients are asked only on zones marked ipv6', async () => {
    const { dns, resolve4 } = lists({ zones: [{ zone: 'v4.example' }, { zone: 'v6.example', ipv6: true }] }, {
      [`1${'.0'.repeat(31)}.v6.example`]: ['127.0.0.2'],
    });
    const result = await dns.check('::1');
    assert.deepEqual([result.score, result.hits.map((h) => h.zone)], [1, ['v6.example']]);
    assert.deepEqual(resolve4.queries, [`1${'.0'.repeat(31)}.v6.example`]);
  });

  test('an aborted check rejects with the signal reason', async () => {
    const { dns } = lists({ resolver: { timeout: '10s' }, zones: [{ zone: 'slow.example' }] }, { [q('slow.example')]: 'hang' });
    const controller = new AbortController();
    const pending = dns.check(client, controller.signal);
    controller.abort(new Error('client gone'));
    await assert.rejects(pending, /client gone/);
  });
});

describe('listedReply', () => {
  const result = {
    score: 3,
    listed: true,
    allowlisted: false,
    hits: [
      { zone: 'b.example', name: 'B', weight: 1, answers: ['127.0.0.2'] },
      { zone: 'key123.zen.dq.spamhaus.net', name: 'Spamhaus ZEN', weight: 2, answers: ['127.0.0.2'] },
      { zone: 'c.example', name: 'C', weight: 2, answers: ['127.0.0.2'] },
    ],
    errors: [],
  };

  test('names the listing zone of the highest weight by its displayed name (the first on a tie)', () => {
    assert.equal(formatReply(listedReply('203.0.113.7', result, 'drop')), '521 5.7.1 Service unavailable; client [203.0.113.7] blocked using Spamhaus ZEN');
    assert.equal(formatReply(listedReply('::ffff:203.0.113.7', result, 'enforce')), '550 5.7.1 Service unavailable; client [203.0.113.7] blocked using Spamhaus ZEN');
  });
});
