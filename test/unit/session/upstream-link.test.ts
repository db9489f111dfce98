import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { UpstreamClosedError, UpstreamRefusedError, UpstreamUnavailableError, UpstreamXclientMissingError } from '../../../src/errors.js';
import type { SmtpReply } from '../../../src/smtp/reply.js';
import type { ClientIdentity } from '../../../src/session/client-identity.js';
import { UpstreamLink, type UpstreamLinkSettings } from '../../../src/session/upstream-link.js';
import { UpstreamNotices } from '../../../src/session/upstream-notices.js';
import { UpstreamPool, type Connect } from '../../../src/session/upstream-pool.js';
import { Capabilities } from '../../../src/upstream/capabilities.js';
import type { UpstreamClient, UpstreamOptions } from '../../../src/upstream/client.js';

const OK: SmtpReply = { code: 250, enhanced: '2.0.0', text: 'Ok' };
const WITH_XCLIENT = Capabilities.fromEhlo(['mx.example.org', 'PIPELINING', 'XCLIENT NAME ADDR PORT PROTO HELO REVERSE_NAME DESTADDR DESTPORT']);
const WITHOUT_XCLIENT = Capabilities.fromEhlo(['mx.example.org', 'PIPELINING']);

/** Stands in for UpstreamClient: records what the link asks of it. */
class FakeClient {
  closed = false;
  readonly calls: string[] = [];
  xclientArgs: { attributes: Record<string, string | undefined>; heloName: string } | undefined;
  constructor(
    public capabilities: Capabilities,
    private readonly replies: { rset?: SmtpReply | Error; xclient?: SmtpReply | SmtpReply[]; afterXclient?: Capabilities } = {},
  ) {}
  async rset(): Promise<SmtpReply> {
    this.calls.push('RSET');
    const reply = this.replies.rset ?? OK;
    if (reply instanceof Error) throw reply;
    return reply;
  }
  async xclient(attributes: Record<string, string | undefined>, heloName: string): Promise<SmtpReply> {
    this.calls.push('XCLIENT');
    this.xclientArgs = { attributes, heloName };
    const planned = this.replies.xclient;
    const reply = (Array.isArray(planned) ? planned.shift() : planned) ?? { code: 250, text: 'mx.example.org' };
    if (reply.code < 400 && this.replies.afterXclient) this.capabilities = this.replies.afterXclient;
    return reply;
  }
  async quit(): Promise<void> {
    this.calls.push('QUIT');
    this.closed = true;
  }
  destroy(): void {
    this.calls.push('destroy');
    this.closed = true;
  }
}

/** A connect() that hands out the given fakes in turn and remembers the options it got. */
function fakeConnect(...clients: (FakeClient | Error)[]) {
  const seen: UpstreamOptions[] = [];
  const connect: Connect = async (options) => {
    seen.push(options);
    const next = clients.shift();
    if (!next) throw new Error('test: unexpected connect');
    if (next instanceof Error) throw next;
    return next as unknown as UpstreamClient;
  };
  return { connect, seen };
}

/** No session is kept between clients: every link opens its own, as before pooling. */
const unpooled = (connect: Connect) => new UpstreamPool(connect, 0, 1000);

const settings = (xclient = true): UpstreamLinkSettings => ({
  xclient,
  notices: new UpstreamNotices(),
  options: {
    host: '192.0.2.25',
    port: 25,
    localName: 'proxy.example.net',
    connectTimeout: 1000,
    commandTimeout: 1000,
    dataTimeout: 1000,
    tls: { mode: 'off', rejectUnauthorized: false },
  },
});

// A bracketed hostname means "no PTR name", so no DNS lookup happens in these tests.
const identity = (helo: string | false = 'client.example.com'): ClientIdentity => ({
  remoteAddress: '192.0.2.1',
  remotePort: 40000,
  localAddress: '192.0.2.2',
  localPort: 25,
  clientHostname: '[192.0.2.1]',
  hostNameAppearsAs: helo,
  openingCommand: helo ? 'EHLO' : false,
});

function capturingLogger() {
  const lines: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

const quiet = pino({ enabled: false });
const signal = new AbortController().signal;

describe('UpstreamLink', () => {
  test('opens nothing until the first begin(); then connects once with our options and the signal', async () => {
    const client = new FakeClient(WITH_XCLIENT);
    const { connect, seen } = fakeConnect(client);
    const link = new UpstreamLink(settings(), quiet, unpooled(connect));
    assert.equal(seen.length, 0);
    assert.throws(() => link.current(), UpstreamClosedError);
    assert.equal(await link.begin(identity(), signal), client);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.host, '192.0.2.25');
    assert.equal(seen[0]!.localName, 'proxy.example.net');
    assert.equal(seen[0]!.signal, signal);
    assert.equal(link.current(), client);
  });

  test('the next transaction reuses the session; RSET only when a transaction was open', async () => {
    const client = new FakeClient(WITH_XCLIENT);
    const { connect, seen } = fakeConnect(client);
    const link = new UpstreamLink(settings(), quiet, unpooled(connect));
    await link.begin(identity(), signal);
    // The previous MAIL was refused: nothing to reset.
    link.setInTransaction(false);
    assert.equal(await link.begin(identity(), signal), client);
    assert.deepEqual(client.calls, ['XCLIENT']);
    link.setInTransaction(true);
    assert.equal(await link.begin(identity(), signal), client);
    assert.deepEqual(client.calls, ['XCLIENT', 'RSET']);
    // The RSET ended that transaction: a further begin() sends nothing.
    await link.begin(identity(), signal);
    assert.deepEqual(client.calls, ['XCLIENT', 'RSET']);
    assert.equal(seen.length, 1);
  });

  test('a session the upstream closed in between is replaced, without RSET', async () => {
    const first = new FakeClient(WITH_XCLIENT);
    const second = new FakeClient(WITH_XCLIENT);
    const link = new UpstreamLink(settings(), quiet, unpooled(fakeConnect(first, second).connect));
    await link.begin(identity(), signal);
    link.setInTransaction(true);
    first.closed = true;
    assert.throws(() => link.current(), UpstreamClosedError);
    assert.equal(await link.begin(identity(), signal), second);
    assert.deepEqual(first.calls, ['XCLIENT']);
  });

  for (const [what, rset] of [['refused', { code: 421, enhanced: '4.4.2', text: 'bye' }], ['failed', new UpstreamClosedError('gone')]] as const) {
    test(`an RSET that is ${what} drops the session and the next begin() opens a new one`, async () => {
      const first = new FakeClient(WITH_XCLIENT, { rset });
      const second = new FakeClient(WITH_XCLIENT);
      const link = new UpstreamLink(settings(), quiet, unpooled(fakeConnect(first, second).connect));
      await link.begin(identity(), signal);
      link.setInTransaction(true);
      assert.equal(await link.begin(identity(), signal), second);
      assert.deepEqual(first.calls, ['XCLIENT', 'RSET', 'destroy']);
    });
  }

  test('a failed connect is passed on, and the next begin() tries again', async () => {
    const client = new FakeClient(WITH_XCLIENT);
    const link = new UpstreamLink(settings(), quiet, unpooled(fakeConnect(new UpstreamUnavailableError('refused'), client).connect));
    await assert.rejects(link.begin(identity(), signal), UpstreamUnavailableError);
    assert.equal(await link.begin(identity(), signal), client);
  });

  test('drop() destroys the session at once; close() says QUIT', async () => {
    const first = new FakeClient(WITH_XCLIENT);
    const second = new FakeClient(WITH_XCLIENT);
    const link = new UpstreamLink(settings(), quiet, unpooled(fakeConnect(first, second).connect));
    await link.begin(identity(), signal);
    link.drop();
    assert.deepEqual(first.calls, ['XCLIENT', 'destroy']);
    await link.begin(identity(), signal);
    await link.close();
    assert.deepEqual(second.calls, ['XCLIENT', 'QUIT']);
    assert.throws(() => link.current(), UpstreamClosedError);
  });
});

describe('XCLIENT', () => {
  test("offered and enabled: the client's address and HELO go upstream, and the new EHLO uses the client's HELO", async () => {
    const client = new FakeClient(WITH_XCLIENT);
    const link = new UpstreamLink(settings(), quiet, unpooled(fakeConnect(client).connect));
    await link.begin(identity('client.example.com'), signal);
    const { attributes, heloName } = client.xclientArgs!;
    assert.equal(attributes.ADDR, '192.0.2.1');
    assert.equal(attributes.PORT, '40000');
    assert.equal(attributes.HELO, 'client.example.com');
    assert.equal(attributes.PROTO, 'ESMTP');
    assert.equal(attributes.NAME, '[UNAVAILABLE]');
    assert.equal(heloName, 'client.example.com');
  });

  test('a client that sent no HELO: our own name for the new EHLO', async () => {
    const client = new FakeClient(WITH_XCLIENT);
    const link = new UpstreamLink(settings(), quiet, unpooled(fakeConnect(client).connect));
    await link.begin(identity(false), signal);
    assert.equal(client.xclientArgs!.heloName, 'proxy.example.net');
    // Sent as unknown, never left out: left out, a pooled session would keep the last client's.
    assert.equal(client.xclientArgs!.attributes.HELO, '[UNAVAILABLE]');
  });

  test('xclient: false sends no XCLIENT even when offered', async () => {
    const client = new FakeClient(WITH_XCLIENT);
    const link = new UpstreamLink(settings(false), quiet, unpooled(fakeConnect(client).connect));
    await link.begin(identity(), signal);
    assert.deepEqual(client.calls, []);
  });

  test('carriesClient (our Received header is then left out): only while a session that took XCLIENT is under way', async () => {
    const client = new FakeClient(WITH_XCLIENT);
    const link = new UpstreamLink(settings(), quiet, unpooled(fakeConnect(client).connect));
    assert.equal(link.carriesClient, false);
    await link.begin(identity(), signal);
    assert.equal(link.carriesClient, true);
    link.drop();
    assert.equal(link.carriesClient, false);
    const without = new UpstreamLink(settings(false), quiet, unpooled(fakeConnect(new FakeClient(WITH_XCLIENT)).connect));
    await without.begin(identity(), signal);
    assert.equal(without.carriesClient, false, 'xclient: false');
  });

  test('a refused XCLIENT fails closed: UpstreamRefusedError (451 4.3.2), the session is destroyed', async () => {
    const refusal = { code: 550, enhanced: '5.7.0', text: 'Error: insufficient authorization' };
    const refused = new FakeClient(WITH_XCLIENT, { xclient: refusal });
    const next = new FakeClient(WITH_XCLIENT);
    const link = new UpstreamLink(settings(), quiet, unpooled(fakeConnect(refused, next).connect));
    await assert.rejects(link.begin(identity(), signal), (error: unknown) => {
      assert.ok(error instanceof UpstreamRefusedError);
      assert.equal(error.code, 'SSP_ERR_UPSTREAM_REFUSED');
      assert.deepEqual({ code: error.reply.code, enhanced: error.reply.enhanced }, { code: 451, enhanced: '4.3.2' });
      assert.deepEqual(error.upstreamReply, refusal);
      // The fix is in the message, for the operator reading the log.
      assert.match(error.message, /smtpd_authorized_xclient_hosts/);
      return true;
    });
    assert.deepEqual(refused.calls, ['XCLIENT', 'destroy']);
    assert.throws(() => link.current(), UpstreamClosedError);
    assert.equal(await link.begin(identity(), signal), next);
  });

  // The warning flag is per process, so this is the only test here whose upstream lacks XCLIENT.
  test('not offered on a fresh session: fails closed with 451 4.3.5 and one error line that says what to add', async () => {
    const { logger, lines } = capturingLogger();
    const sharedSettings = settings();
    const clients = [new FakeClient(WITHOUT_XCLIENT), new FakeClient(WITHOUT_XCLIENT)];
    const links = clients.map((client) => new UpstreamLink(sharedSettings, logger, unpooled(fakeConnect(client).connect)));
    for (const link of links) {
      await assert.rejects(link.begin(identity(), signal), (error: unknown) => {
        assert.ok(error instanceof UpstreamXclientMissingError);
        assert.deepEqual(error.reply, { code: 451, enhanced: '4.3.5', text: 'Mail service configuration error, please try again later' });
        return true;
      });
    }
    assert.deepEqual(clients.map((client) => client.calls), [['destroy'], ['destroy']]);
    const errors = lines.filter((line) => line.level === 50);
    assert.equal(errors.length, 1, 'said once, not per client');
    assert.match(errors[0]!.msg, /does not offer XCLIENT.*smtpd_authorized_xclient_hosts.*upstream\.xclient: false/);
  });

  describe('pooled sessions speak for one client at a time (issue 15)', () => {
    const pooled = (connect: Connect) => new UpstreamPool(connect, 4, 10_000);
    const v6 = (): ClientIdentity => ({ ...identity(), remoteAddress: '2001:db8::7', localAddress: '2001:db8::25' });

    test('a session whose upstream stopped offering XCLIENT is not kept for the next client', async () => {
      const first = new FakeClient(WITH_XCLIENT, { afterXclient: WITHOUT_XCLIENT });
      const second = new FakeClient(WITH_XCLIENT);
      const pool = pooled(fakeConnect(first, second).connect);
      const link = new UpstreamLink(settings(), quiet, pool);
      await link.begin(identity(), signal);
      await link.close();
      assert.deepEqual(first.calls, ['XCLIENT', 'QUIT']);
      const next = new UpstreamLink(settings(), quiet, pool);
      assert.equal(await next.begin(identity(), signal), second);
    });

    test('a session that still offers XCLIENT is handed on with the next client\'s own XCLIENT', async () => {
      const client = new FakeClient(WITH_XCLIENT);
      const pool = pooled(fakeConnect(client).connect);
      const first = new UpstreamLink(settings(), quiet, pool);
      await first.begin(identity('first.example.com'), signal);
      await first.close();
      const second = new UpstreamLink(settings(), quiet, pool);
      assert.equal(await second.begin(identity('second.example.com'), signal), client);
      assert.deepEqual(client.calls, ['XCLIENT', 'XCLIENT']);
      assert.equal(client.xclientArgs!.attributes.HELO, 'second.example.com');
    });

    test('a reused session that refuses the next client\'s XCLIENT is closed and a fresh one opened', async () => {
      const refusal = { code: 550, enhanced: '5.7.0', text: 'Error: insufficient authorization' };
      const reused = new FakeClient(WITH_XCLIENT, { xclient: [{ code: 250, text: 'ok' }, refusal] });
      const fresh = new FakeClient(WITH_XCLIENT);
      const pool = pooled(fakeConnect(reused, fresh).connect);
      const first = new UpstreamLink(settings(), quiet, pool);
      await first.begin(identity(), signal);
      await first.close();
      const second = new UpstreamLink(settings(), quiet, pool);
      assert.equal(await second.begin(identity(), signal), fresh);
      assert.deepEqual(reused.calls, ['XCLIENT', 'XCLIENT', 'destroy']);
      assert.deepEqual(fresh.calls, ['XCLIENT']);
    });

    test('an upstream that refuses IPv6 in XCLIENT gets the client as [UNAVAILABLE], said once', async () => {
      const { logger, lines } = capturingLogger();
      const badAddr = { code: 501, enhanced: '5.5.4', text: 'Bad ADDR syntax: IPV6:2001:db8::7' };
      const shared = settings();
      for (let round = 0; round < 2; round++) {
        const client = new FakeClient(WITH_XCLIENT, { xclient: [badAddr] });
        const link = new UpstreamLink(shared, logger, unpooled(fakeConnect(client).connect));
        assert.equal(await link.begin(v6(), signal), client);
        assert.deepEqual(client.calls, ['XCLIENT', 'XCLIENT']);
        assert.equal(client.xclientArgs!.attributes.ADDR, '[UNAVAILABLE]');
        assert.equal(client.xclientArgs!.attributes.DESTADDR, '[UNAVAILABLE]');
      }
      assert.equal(lines.filter((line) => /takes no IPv6 address/.test(line.msg)).length, 1);
    });

    test('an IPv6 client whose fallback is refused too fails closed', async () => {
      const refusal = { code: 550, enhanced: '5.7.0', text: 'Error: insufficient authorization' };
      const client = new FakeClient(WITH_XCLIENT, { xclient: [refusal, refusal] });
      const link = new UpstreamLink(settings(), quiet, unpooled(fakeConnect(client).connect));
      await assert.rejects(link.begin(v6(), signal), UpstreamRefusedError);
      assert.deepEqual(client.calls, ['XCLIENT', 'destroy']);
    });
  });
});
