import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../../../src/config/load.js';
import { loadSigningKeys } from '../../../src/dkim/keys.js';
import { dnsRecordLine } from '../../../src/dkim/keygen.js';
import { ConfigError } from '../../../src/errors.js';

const parse = (dkim: unknown) => parseConfig({ dkim }, new Map());
const key = { domain: 'example.org', selector: 's1', file: '/etc/k' };

function rejects(dkim: unknown, pattern: RegExp): void {
  assert.throws(() => parse(dkim), (error: unknown) => error instanceof ConfigError && pattern.test(error.message));
}

describe('dkim config', () => {
  test('defaults: the issue\'s header list, From oversigned, no networks; domains stored as lowercase A-labels', () => {
    const { dkim } = parse({ keys: [{ ...key, domain: 'Bücher.Example.' }] });
    assert.deepEqual(dkim, {
      keys: [{ domain: 'xn--bcher-kva.example', selector: 's1', file: '/etc/k' }],
      networks: [],
      headers: ['From', 'Subject', 'Date', 'To', 'Cc', 'Message-ID'],
      oversign: ['From'],
      matchSender: true,
    });
  });

  test('networks are CIDRs', () => {
    assert.deepEqual(parse({ keys: [key], networks: ['10.0.0.0/8', '2001:db8::1'] }).dkim?.networks, ['10.0.0.0/8', '2001:db8::1']);
    rejects({ keys: [key], networks: ['10.0.0.1/8'] }, /dkim\.networks\[0\]: host bits set/);
  });

  test('mistakes name their key', () => {
    rejects({ keys: [] }, /dkim\.keys: Too small/);
    rejects({ keys: [{ ...key, selector: 'a b' }] }, /dkim\.keys\[0\]\.selector: a selector/);
    rejects({ keys: [{ ...key, domain: 'localhost' }] }, /dkim\.keys\[0\]\.domain: not a domain name/);
    rejects({ keys: [key, { ...key, domain: 'EXAMPLE.org' }] }, /dkim\.keys\[1\]: s1\._domainkey\.example\.org is configured twice/);
    rejects({ keys: [key], headers: ['Subject', 'To'] }, /dkim\.headers: must include From/);
    rejects({ keys: [key], oversign: ['Reply-To'] }, /dkim\.oversign\[0\]: Reply-To is not in dkim\.headers/);
    rejects({ keys: [key], headers: ['From', 'Bad:Name'] }, /dkim\.headers\[1\]: a header field name/);
    rejects({ keys: [key], canonicalization: 'simple' }, /dkim\.canonicalization: unknown key/);
  });
});

describe('signing keys from files', () => {
  let dir: string;
  const file = (name: string) => path.join(dir, name);
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ssp-dkim-keys-'));
    const pem = (pair: { privateKey: { export(o: object): string | Buffer } }, type = 'pkcs8') => pair.privateKey.export({ type, format: 'pem' }).toString();
    await writeFile(file('rsa.key'), pem(generateKeyPairSync('rsa', { modulusLength: 2048 }), 'pkcs1'));
    await writeFile(file('ed.key'), pem(generateKeyPairSync('ed25519')));
    await writeFile(file('small.key'), pem(generateKeyPairSync('rsa', { modulusLength: 768 })));
    await writeFile(file('ec.key'), pem(generateKeyPairSync('ec', { namedCurve: 'P-256' })));
    await writeFile(file('junk.key'), 'not a key\n');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('RSA (PKCS#1 too) and Ed25519 keys of one domain sign together', () => {
    const keys = loadSigningKeys([
      { domain: 'example.org', selector: 'r', file: file('rsa.key') },
      { domain: 'example.org', selector: 'e', file: file('ed.key') },
    ]);
    assert.deepEqual(keys.get('example.org')?.map(({ selector, algorithm }) => [selector, algorithm]), [['r', 'rsa-sha256'], ['e', 'ed25519-sha256']]);
  });

  for (const [name, pattern] of [
    ['missing.key', /dkim\.keys\[0\]\.file: cannot read a private key from .*missing\.key/],
    ['junk.key', /dkim\.keys\[0\]\.file: cannot read a private key from .*junk\.key/],
    ['small.key', /RSA key of 768 bits; verifiers ignore keys under 1024/],
    ['ec.key', /is an ec key; DKIM signs with RSA or Ed25519/],
  ] as const) {
    test(`${name}: refused at start-up, naming the entry`, () => {
      assert.throws(() => loadSigningKeys([{ domain: 'example.org', selector: 's', file: file(name) }]), (error: unknown) => error instanceof ConfigError && pattern.test(error.message));
    });
  }
});

test('a TXT value longer than 255 bytes is split into strings of 255', () => {
  const value = `v=DKIM1; k=rsa; p=${'A'.repeat(400)}`;
  const line = dnsRecordLine('example.org', 's1', value);
  const strings = [...line.matchAll(/"([^"]*)"/g)].map((match) => match[1]!);
  assert.deepEqual(strings.map((s) => s.length), [255, value.length - 255]);
  assert.equal(strings.join(''), value);
  assert.ok(line.startsWith('s1._domainkey.example.org. 3600 IN TXT "v=DKIM1; k=rsa; p=AAA'));
});
