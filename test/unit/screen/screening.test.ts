import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { Screening, type ScreenAction, type ScreeningParts } from '../../../src/screen/screening.js';
import { Tarpit } from '../../../src/screen/tarpit.js';
import type { SmtpReply } from '../../../src/smtp/reply.js';

const quiet = pino({ enabled: false });
const TOO_MANY: SmtpReply = { code: 421, enhanced: '4.7.0', text: 'Error: too many connections from 192.0.2.9' };

/** Parts whose answers a test chooses: score per address, deny/allow lists, limit replies. */
function parts(action: ScreenAction, over: Partial<ScreeningParts> = {}, scores: Record<string, number> = {}): ScreeningParts {
  return {
    action,
    access: { check: (address) => (address === '192.0.2.1' ? 'allow' : address === '192.0.2.2' ? 'deny' : undefined) },
    dnsLists: {
      check: async (address) => {
        const score = scores[address] ?? 0;
        return { score, listed: score >= 2, allowlisted: score <= -1, hits: score > 0 ? [{ zone: 'z.test', name: 'zone-name', weight: score }] : [] };
      },
    },
    rateLimits: { connection: async () => undefined, message: async () => undefined, recipient: async () => undefined },
    tarpit: { delay: 0, afterErrors: 3, step: 1000, max: 10_000 },
    replies: {
      listed: (address, list, when) => ({ code: when === 'connect' ? 521 : 550, enhanced: '5.7.1', text: `client [${address}] blocked using ${list}` }),
      denied: (address, when) => ({ code: when === 'connect' ? 521 : 550, enhanced: '5.7.1', text: `client [${address}] blocked using access list` }),
    },
    idleTimeout: 300_000,
    ...over,
  };
}

describe('Screening', () => {
  test('drop: a listed client is refused at connect with 521, naming the zone', async () => {
    const screen = await new Screening(parts('drop', {}, { '192.0.2.7': 2 }), quiet).connect('192.0.2.7');
    assert.deepEqual(screen.atConnect, { code: 521, enhanced: '5.7.1', text: 'client [192.0.2.7] blocked using zone-name' });
    assert.deepEqual(screen.facts, { verdict: 'listed', score: 2, listedBy: ['zone-name'] });
  });

  test('enforce: a listed client gets its banner, MAIL is answered locally, every RCPT gets 550', async () => {
    const screen = await new Screening(parts('enforce', {}, { '192.0.2.7': 3 }), quiet).connect('192.0.2.7');
    assert.equal(screen.atConnect, undefined);
    assert.equal(screen.refusesRecipients, true);
    assert.equal((await screen.rcpt('a@b.example'))?.code, 550);
  });

  test('ignore: a listed client is only logged', async () => {
    const screen = await new Screening(parts('ignore', {}, { '192.0.2.7': 3 }), quiet).connect('192.0.2.7');
    assert.equal(screen.atConnect, undefined);
    assert.equal(screen.refusesRecipients, false);
    assert.equal(await screen.rcpt('a@b.example'), undefined);
    assert.equal(screen.facts.verdict, 'listed');
  });

  test('the access list: allow skips every check, deny refuses like a listing', async () => {
    let asked = 0;
    const counting = parts('drop', {
      dnsLists: { check: async () => { asked++; return { score: 5, listed: true, allowlisted: false, hits: [] }; } },
      rateLimits: { connection: async () => TOO_MANY, message: async () => TOO_MANY, recipient: async () => TOO_MANY },
    });
    const allowed = await new Screening(counting, quiet).connect('192.0.2.1');
    assert.equal(allowed.atConnect, undefined);
    assert.equal(await allowed.mail(), undefined, 'no rate limit for an allowed client');
    assert.equal(asked, 0, 'no DNS lookup for an allowed client');
    const denied = await new Screening(counting, quiet).connect('192.0.2.2');
    assert.match(denied.atConnect!.text, /access list/);
  });

  test('a DNS allow list at or under allowlistThreshold exempts from rate limits', async () => {
    const limited = parts('drop', { rateLimits: { connection: async () => TOO_MANY, message: async () => TOO_MANY, recipient: async () => TOO_MANY } }, { '192.0.2.8': -2 });
    const screen = await new Screening(limited, quiet).connect('192.0.2.8');
    assert.equal(screen.facts.verdict, 'allowlisted');
    assert.equal(screen.atConnect, undefined);
    assert.equal(await screen.mail(), undefined);
  });

  test('rate limits: the connection limit refuses at connect, the others at MAIL and RCPT', async () => {
    const limited = parts('drop', { rateLimits: { connection: async () => TOO_MANY, message: async () => TOO_MANY, recipient: async () => TOO_MANY } });
    const screen = await new Screening(limited, quiet).connect('192.0.2.9');
    assert.deepEqual(screen.atConnect, TOO_MANY);
    assert.deepEqual(await screen.mail(), TOO_MANY);
    assert.deepEqual(await screen.rcpt('a@b.example'), TOO_MANY);
  });
});

describe('Tarpit', () => {
  const settings = { delay: 2000, afterErrors: 3, step: 1000, max: 5000 };

  test('a suspicious client waits `delay` before every reply; others do not', () => {
    assert.equal(new Tarpit(settings, true, 300_000).pause, 2000);
    assert.equal(new Tarpit(settings, false, 300_000).pause, 0);
  });

  test('negative replies past afterErrors make each wait longer, up to max and under the idle limit', () => {
    const tarpit = new Tarpit(settings, false, 300_000);
    const pauses: number[] = [];
    for (let i = 0; i < 10; i++) {
      pauses.push(tarpit.pause);
      tarpit.note(550);
    }
    assert.deepEqual(pauses, [0, 0, 0, 1000, 2000, 3000, 4000, 5000, 5000, 5000]);
    assert.equal(new Tarpit(settings, true, 2500).pause, 1500, 'a second under the client\'s idle limit');
    const positive = new Tarpit(settings, false, 300_000);
    for (let i = 0; i < 10; i++) positive.note(250);
    assert.equal(positive.pause, 0);
  });
});
