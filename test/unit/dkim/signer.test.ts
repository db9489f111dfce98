import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { DEFAULT_SIGNED_HEADERS } from '../../../src/dkim/config.js';
import { dnsTxtValue } from '../../../src/dkim/keygen.js';
import { MessageSigner, type SigningContext } from '../../../src/dkim/signer.js';
import type { SigningKey } from '../../../src/dkim/signature.js';
import { memoryMessage } from '../../helpers/memory-message.js';
import { outgoingMessage } from '../../../src/message/outgoing.js';
import type { HeaderEdits } from '../../../src/policy/decision.js';
import type { SpooledMessage } from '../../../src/spool/message.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ed = generateKeyPairSync('ed25519');
const keys: SigningKey[] = [
  { domain: 'example.org', selector: 'rsa1', algorithm: 'rsa-sha256', key: rsa.privateKey },
  { domain: 'example.org', selector: 'ed1', algorithm: 'ed25519-sha256', key: ed.privateKey },
];
const records = new Map([
  ['rsa1._domainkey.example.org', dnsTxtValue('rsa', rsa.publicKey)],
  ['ed1._domainkey.example.org', dnsTxtValue('ed25519', ed.publicKey)],
]);
const resolver = async (name: string) => {
  const record = records.get(name);
  if (!record) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
  return [[record]];
};

const networks = ['192.0.2.0/24'];
const settings = { networks, headers: DEFAULT_SIGNED_HEADERS, oversign: ['From'], matchSender: true };
const signer = new MessageSigner(new Map([['example.org', keys]]), settings);
const fromNetwork: SigningContext = { clientAddress: '192.0.2.7', user: undefined, mailFrom: 'bounces@lists.example.net', eightBitMime: true };
const noEdits: HeaderEdits = { add: [], remove: [] };
/** As the session calls it: a fresh stream of the edited message at each call. */
const outgoing = (message: SpooledMessage, edits: HeaderEdits) => () => outgoingMessage(message, edits);

const message = (head = 'From: Alice <alice@Example.ORG>\r\nTo: bob@example.net\r\nSubject: hi\r\nDate: Mon, 30 Nov 2026 05:44:18 +0000\r\nMessage-ID: <1@example.org>\r\n', body = 'Hello  \r\nworld\r\n\r\n\r\n') =>
  `${head}\r\n${body}`;

async function read(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function verify(bytes: Buffer | string) {
  const { results } = await dkimVerify(Buffer.from(bytes), { resolver: resolver as never });
  return results.map((result) => ({ selector: result.signingDomain && (result as { selector?: string }).selector, status: result.status.result }));
}

describe('DKIM signing (mailauth verifies what we sign)', () => {
  test('both keys sign; h= lists the default fields present, From once more (oversigned)', async () => {
    const out = await signer.outgoing(outgoing(memoryMessage(message(), 7), noEdits), fromNetwork);
    const bytes = await read(out.message);
    assert.equal(out.size, bytes.length, 'the size BDAT announces counts the signatures');
    assert.deepEqual(out.dkim, { domain: 'example.org', selectors: ['rsa1', 'ed1'] });
    assert.deepEqual(await verify(bytes), [{ selector: 'rsa1', status: 'pass' }, { selector: 'ed1', status: 'pass' }]);
    const signatures = bytes.toString('latin1').split('\r\n\r\n')[0]!.replace(/\r\n\s+/g, ' ').split('\r\n').filter((line) => line.startsWith('DKIM-Signature:'));
    assert.equal(signatures.length, 2);
    for (const signature of signatures) {
      assert.match(signature, / h=Message-ID: Date: Subject: To: From: From;/);
      assert.match(signature, / c=relaxed\/relaxed;/);
    }
    assert.match(signatures[0]!, / a=rsa-sha256;/);
    assert.match(signatures[1]!, / a=ed25519-sha256;/);
    // The message itself is untouched below the signatures.
    assert.ok(bytes.toString('latin1').endsWith(message()));
  });

  test('a From added after signing breaks it (oversigned); a changed Subject too', async () => {
    const bytes = (await read((await signer.outgoing(outgoing(memoryMessage(message()), noEdits), fromNetwork)).message)).toString('latin1');
    const withSecondFrom = bytes.replace('\r\nTo: ', '\r\nFrom: ceo@example.org\r\nTo: ');
    assert.deepEqual((await verify(withSecondFrom)).map((r) => r.status), ['fail', 'fail']);
    const changed = bytes.replace('Subject: hi', 'Subject: hI');
    assert.deepEqual((await verify(changed)).map((r) => r.status), ['fail', 'fail']);
  });

  test('verdict headers added by the policy are part of what is signed and sent', async () => {
    const edits = { add: [['X-Spam-Flag', 'YES'] as [string, string]], remove: ['x-spam-*'] };
    const original = message('From: alice@example.org\r\nX-Spam-Flag: forged\r\nSubject: s\r\nDate: x\r\nMessage-ID: <2@x>\r\n');
    const bytes = (await read((await signer.outgoing(outgoing(memoryMessage(original), edits), fromNetwork)).message)).toString('latin1');
    assert.doesNotMatch(bytes, /forged/);
    assert.match(bytes, /\r\nX-Spam-Flag: YES\r\n/);
    assert.deepEqual((await verify(bytes)).map((r) => r.status), ['pass', 'pass']);
  });

  test('a missing Date and Message-ID are added before signing, and signed', async () => {
    const out = await signer.outgoing(outgoing(memoryMessage(message('From: alice@example.org\r\nSubject: s\r\n')), noEdits), fromNetwork);
    const bytes = (await read(out.message)).toString('latin1');
    assert.equal(out.size, Buffer.byteLength(bytes, 'latin1'), 'the added fields are counted');
    assert.deepEqual(out.dkim, { domain: 'example.org', selectors: ['rsa1', 'ed1'], added: ['Date', 'Message-ID'] });
    assert.match(bytes, /\r\nDate: \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r\nMessage-ID: <[0-9a-f-]{36}@example\.org>\r\nFrom: /);
    assert.match(bytes.replace(/\r\n\s+/g, ' '), /h=Subject: From: Message-ID: Date: From;/);
    assert.deepEqual((await verify(bytes)).map((r) => r.status), ['pass', 'pass']);
  });

  test('an authenticated session is signed from any address, when the From domain is the envelope sender\'s', async () => {
    const loggedIn = { ...fromNetwork, clientAddress: '198.51.100.1', user: 'alice' };
    for (const mailFrom of ['alice@EXAMPLE.org', '']) {
      const out = await signer.outgoing(outgoing(memoryMessage(message()), noEdits), { ...loggedIn, mailFrom });
      assert.deepEqual(out.dkim, { domain: 'example.org', selectors: ['rsa1', 'ed1'] }, mailFrom);
    }
    const other = await signer.outgoing(outgoing(memoryMessage(message()), noEdits), { ...loggedIn, mailFrom: 'alice@example.net' });
    assert.deepEqual(other.dkim, { unsigned: "From domain example.org is not the envelope sender's" });
    const allowed = new MessageSigner(new Map([['example.org', keys]]), { ...settings, matchSender: false });
    const signed = await allowed.outgoing(outgoing(memoryMessage(message()), noEdits), { ...loggedIn, mailFrom: 'alice@example.net' });
    assert.deepEqual(signed.dkim, { domain: 'example.org', selectors: ['rsa1', 'ed1'] });
  });

  const unsignedCases: [string, string, Partial<SigningContext>, string | undefined][] = [
    ['a client neither authenticated nor from the networks', message(), { clientAddress: '198.51.100.1' }, undefined],
    ['a From domain without a key', message('From: a@example.net\r\n'), {}, 'no key for example.net'],
    ['a subdomain of a keyed domain', message('From: a@mail.example.org\r\n'), {}, 'no key for mail.example.org'],
    ['two From fields', message('From: a@example.org\r\nFrom: b@example.org\r\n'), {}, 'more than one From header field'],
    ['two addresses in From', message('From: a@example.org, "b, c" <b@example.org>\r\n'), {}, 'more than one address in From'],
    ['no From', message('Subject: x\r\n'), {}, 'no From header field'],
    ['8-bit content, upstream without 8BITMIME', message(undefined, 'Gr\xfc\xdfe\r\n'), { eightBitMime: false }, '8-bit content and the upstream offers no 8BITMIME'],
  ];
  for (const [name, text, context, reason] of unsignedCases) {
    test(`not signed: ${name}; the message goes out as it came`, async () => {
      const original = Buffer.from(text, 'latin1');
      const out = await signer.outgoing(outgoing(memoryMessage(original), noEdits), { ...fromNetwork, ...context });
      assert.deepEqual(out.dkim, reason === undefined ? undefined : { unsigned: reason });
      assert.deepEqual(await read(out.message), original);
      assert.equal(out.size, original.length);
    });
  }

  test('8-bit content is signed when the upstream offers 8BITMIME', async () => {
    const out = await signer.outgoing(outgoing(memoryMessage(Buffer.from(message(undefined, 'Gr\xfc\xdfe\r\n'), 'latin1')), noEdits), fromNetwork);
    assert.deepEqual((await verify(await read(out.message))).map((r) => r.status), ['pass', 'pass']);
  });

  test('From domains: comments, quoted names, IDN and angle brackets', async () => {
    const idn = new MessageSigner(new Map([['xn--bcher-kva.example', [{ ...keys[0]!, domain: 'xn--bcher-kva.example' }]]]), settings);
    for (const from of ['"Bücher, Team <x@y.z>" <team@bücher.example>', 'team@xn--bcher-kva.example (Team, <a@b.c>)', 'Team <team@BÜCHER.example.>']) {
      const out = await idn.outgoing(outgoing(memoryMessage(Buffer.from(message(`From: ${from}\r\n`))), noEdits), fromNetwork);
      assert.deepEqual(out.dkim, { domain: 'xn--bcher-kva.example', selectors: ['rsa1'], added: ['Date', 'Message-ID'] }, from);
    }
  });
});
