import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { pino } from 'pino';
import { AccountLimits } from '../../src/outbound/account-limits.js';
import { outboundSchema } from '../../src/outbound/config.js';
import { capturedLogger } from '../helpers/captured-logger.js';
import { EICAR } from '../helpers/eicar.js';
import { countingConnect, startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { scrape } from '../helpers/scrape.js';
import { nothingDelivered, services, taggedAddress, waitForDelivery } from '../helpers/services.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { fixture } from '../scenarios/scanning-scenarios.js';

/**
 * Mail from our own users (issue 11 item 3): a submission listener with a users file in front
 * of the test Postfix (XCLIENT LOGIN), clamd and spamd. Each refusal is checked where a user and
 * an admin see it: the reply, the mailbox (nothing delivered), the upstream sessions opened, the
 * log line and the metrics.
 */
const PASSWORD = 'correct horse battery staple';
/** One account per test, so the per-account counts of one test do not reach into another. */
const ACCOUNTS = ['alice@example.test', 'limited@example.test', 'rcpts@example.test', 'virus@example.test', 'spam@example.test', 'relay'];
const MESSAGES_PER_HOUR = 2;
const RECIPIENTS_PER_DAY = 3;

const message = (subject: string, body = 'Hello from the submission port.') =>
  `From: <sender@example.test>\r\nTo: <bob@example.test>\r\nSubject: ${subject}\r\nDate: ${new Date().toUTCString()}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@example.test>\r\n\r\n${body}\r\n`;

describe('outbound policy on a submission listener', () => {
  let proxy: TestProxy;
  let dir: string;
  const upstream = countingConnect();
  const { logger, lines } = capturedLogger();

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ssp-outbound-'));
    const hash = bcrypt.hashSync(PASSWORD, 4);
    const usersFile = path.join(dir, 'users');
    await writeFile(usersFile, ACCOUNTS.map((user) => `${user}:${hash}\n`).join(''));
    proxy = await startTestProxy(
      {
        listen: { role: 'submission', auth: { type: 'file', file: usersFile } },
        tls: services.tls,
        upstream: { port: services.postfixPort, poolSize: 0 },
        metrics: { port: 0 },
        scanners: [
          { type: 'clamav', host: '127.0.0.1', port: services.clamdPort, timeout: '30s' },
          { type: 'spamassassin', host: '127.0.0.1', port: services.spamdPort, timeout: '60s', rejectScore: 10, outbound: { rejectScore: 5 } },
        ],
        outbound: {
          limits: { messagesPerHour: MESSAGES_PER_HOUR, recipientsPerDay: RECIPIENTS_PER_DAY },
          senders: { allowed: { relay: ['example.test', 'newsletter@example.org'] } },
        },
      },
      { logger, connect: upstream.connect },
    );
  });

  after(async () => {
    await proxy?.stop(1000);
    await rm(dir, { recursive: true, force: true });
  });

  /** After EHLO, STARTTLS, EHLO and a good AUTH PLAIN as `user`. */
  async function loggedIn(user: string): Promise<SmtpTestClient> {
    const client = await SmtpTestClient.afterEhlo(proxy.port, 'workstation.example.test');
    await client.startTls();
    assert.equal((await client.command('EHLO workstation.example.test')).code, 250);
    const auth = await client.command(`AUTH PLAIN ${Buffer.from(`\0${user}\0${PASSWORD}`).toString('base64')}`);
    assert.equal(auth.code, 235, `login of ${user}: ${auth.last}`);
    return client;
  }

  const metric = async (name: string, labels?: Record<string, string>) => (await scrape(proxy.metricsAddress!.port)).value(name, labels);

  test('a sender of another domain gets 553 5.7.1 and opens nothing upstream; one of the login\'s own domain is delivered', async () => {
    const client = await loggedIn('alice@example.test');
    const opened = upstream.opened();
    const refusedBefore = await metric('smtp_scan_proxy_sender_refused_total');
    const wrong = await client.command('MAIL FROM:<ceo@example.org>');
    assert.equal(wrong.last, '553 5.7.1 <ceo@example.org>: Sender address rejected: not owned by user alice@example.test');
    assert.equal(upstream.opened(), opened, 'no upstream session for the refused MAIL');
    assert.equal(await metric('smtp_scan_proxy_sender_refused_total'), refusedBefore + 1);
    assert.ok(lines.some((line) => line.msg === 'sender address not allowed for this login' && line.user === 'alice@example.test' && line.from === 'ceo@example.org'));

    const good = taggedAddress('bob');
    const sent = await client.send('alice.sales@example.test', [good.address], message('own domain'));
    assert.equal(sent.final?.code, 250, sent.final?.last);
    assert.equal(upstream.opened(), opened + 1);
    assert.equal((await waitForDelivery('bob', good.tag)).length, 1);
    await client.quit();
  });

  test('a login with its own entry: the listed domain and address, nothing else', async () => {
    const client = await loggedIn('relay');
    const to = taggedAddress('bob');
    const sent = await client.send('newsletter@example.org', [to.address], message('listed address'));
    assert.equal(sent.final?.code, 250, sent.final?.last);
    assert.equal((await client.command('MAIL FROM:<other@example.org>')).code, 553);
    await client.quit();
  });

  test(`an account over its messages per hour gets 450 4.7.1 at MAIL, nothing reaches Postfix, logged and counted`, async () => {
    const client = await loggedIn('limited@example.test');
    for (let i = 0; i < MESSAGES_PER_HOUR; i++) {
      const to = taggedAddress('bob');
      const sent = await client.send('limited@example.test', [to.address], message(`within the limit ${i}`));
      assert.equal(sent.final?.code, 250, sent.final?.last);
    }
    const overBefore = await metric('smtp_scan_proxy_account_over_limit_total', { limit: 'messagesPerHour' });
    await client.quit();

    // A new connection, as a mail program retrying would: it gets as far as MAIL and no further.
    const again = await loggedIn('limited@example.test');
    const opened = upstream.opened();
    const over = taggedAddress('bob');
    const refused = await again.command('MAIL FROM:<limited@example.test>');
    assert.equal(refused.last, `450 4.7.1 Your account reached its limit of messages per hour (${MESSAGES_PER_HOUR}), please try again later`);
    assert.equal((await again.command(`RCPT TO:<${over.address}>`)).code, 503, 'no transaction was opened');
    assert.equal(upstream.opened(), opened, 'no upstream session for the refused account');
    assert.ok(await nothingDelivered('bob', over.tag, 500));
    assert.equal(await metric('smtp_scan_proxy_account_over_limit_total', { limit: 'messagesPerHour' }), overBefore + 1);
    const logged = lines.find((line) => line.msg === 'account over its limit' && line.user === 'limited@example.test');
    assert.deepEqual(logged && { command: logged.command, limit: logged.limit }, { command: 'MAIL', limit: 'messagesPerHour' });
    await again.quit();
  });

  test('recipients per day: the RCPT over it gets 450 4.7.1, the message goes to the others', async () => {
    const client = await loggedIn('rcpts@example.test');
    const to = Array.from({ length: RECIPIENTS_PER_DAY + 1 }, () => taggedAddress('bob'));
    const sent = await client.send('rcpts@example.test', to.map((rcpt) => rcpt.address), message('many recipients'));
    assert.deepEqual(sent.rcpts.map((reply) => reply.code), [...new Array(RECIPIENTS_PER_DAY).fill(250), 450]);
    assert.equal(sent.rcpts.at(-1)!.last, `450 4.7.1 Your account reached its limit of recipients per day (${RECIPIENTS_PER_DAY}), please try again later`);
    assert.equal(sent.final?.code, 250, sent.final?.last);
    for (const rcpt of to.slice(0, RECIPIENTS_PER_DAY)) assert.equal((await waitForDelivery('bob', rcpt.tag)).length, 1);
    assert.ok(await nothingDelivered('bob', to.at(-1)!.tag, 500));
    await client.quit();
  });

  test('EICAR from our own user: 554 5.7.1 telling them their computer may be infected; nothing queued', async () => {
    const client = await loggedIn('virus@example.test');
    const to = taggedAddress('bob');
    const sent = await client.send('virus@example.test', [to.address], message('the file you asked for', EICAR));
    assert.equal(sent.final?.code, 554);
    assert.match(sent.final!.last, /^554 5\.7\.1 Message not sent: it contains a virus \(Eicar-\S+\); your computer may be infected, please have it checked$/);
    assert.ok(await nothingDelivered('bob', to.tag));
    const logged = lines.find((line) => line.msg === 'message refused' && line.user === 'virus@example.test');
    assert.match(String(logged?.reason), /^virus Eicar-/, 'the message line names the account');
    await client.quit();
  });

  test('GTUBE from our own user: 550 5.7.1 at the outbound limit, telling them their account may be compromised; nothing queued', async () => {
    const client = await loggedIn('spam@example.test');
    const to = taggedAddress('bob');
    const sent = await client.send('spam@example.test', [to.address], fixture('gtube.eml'));
    assert.equal(sent.final?.code, 550);
    assert.match(
      sent.final!.last,
      /^550 5\.7\.1 Message not sent: it looks like spam \(score \d+\.\d, limit 5\.0\); if you did not write it, your account may be compromised: change your password$/,
    );
    assert.ok(await nothingDelivered('bob', to.tag));
    await client.quit();
  });
});

describe('account limits in Redis', () => {
  test('two proxies sharing a Redis count one account together', async () => {
    const settings = outboundSchema.parse({ limits: { store: 'redis', redis: { url: `redis://127.0.0.1:${services.redisPort}` }, messagesPerDay: 3 } }).limits;
    const [first, second] = [0, 1].map(() => AccountLimits.create(settings, pino({ level: 'silent' }), { clustered: false }));
    // Redis keeps counts from earlier runs for a day: a login of this run only.
    const login = `shared-${randomBytes(4).toString('hex')}@example.test`;
    try {
      const seen = [];
      for (const limits of [first!, second!, first!, second!]) seen.push((await limits.message(login))?.limit);
      assert.deepEqual(seen, [undefined, undefined, undefined, 'messagesPerDay']);
    } finally {
      await first!.close();
      await second!.close();
    }
  });
});
