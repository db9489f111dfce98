import assert from 'node:assert/strict';
import { randomBytes, scryptSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { parseUsers, UsersFile, verifyPassword } from '../../../src/auth/users-file.js';
import { ConfigError } from '../../../src/errors.js';
import { capturedLogger } from '../../helpers/captured-logger.js';

const scryptHash = (password: string, ln = 10) => {
  const salt = randomBytes(16);
  const hash = scryptSync(password, salt, 32, { N: 2 ** ln, r: 8, p: 1 });
  // PHC form without padding, as passlib writes it.
  const b64 = (buffer: Buffer) => buffer.toString('base64').replace(/=+$/, '');
  return `$scrypt$ln=${ln},r=8,p=1$${b64(salt)}$${b64(hash)}`;
};

describe('parseUsers', () => {
  test('user:hash lines; comments and blank lines skipped; Dovecot\'s {BLF-CRYPT} prefix taken off', () => {
    const bcryptHash = bcrypt.hashSync('x', 4);
    const { users, problems } = parseUsers(`# users\n\nann@example.test:${bcryptHash}\r\nbob:{BLF-CRYPT}${bcryptHash.replace('$2b$', '$2y$')}\n`);
    assert.deepEqual(problems, []);
    assert.deepEqual([...users.keys()], ['ann@example.test', 'bob']);
    assert.equal(users.get('bob'), bcryptHash.replace('$2b$', '$2y$'));
  });

  test('a line that is no user with a known hash is a problem naming its line; a user twice too (the last counts)', () => {
    const hash = bcrypt.hashSync('x', 4);
    const { users, problems } = parseUsers(`ann:${hash}\nbob:plaintext\n:${hash}\nann:${scryptHash('y')}\nmd5:$1$abc$def\n`);
    assert.equal(problems.length, 4);
    assert.match(problems[0]!, /^line 2: /);
    assert.match(problems[1]!, /^line 3: /);
    assert.match(problems[2]!, /^line 4: ann is listed twice/);
    assert.match(problems[3]!, /^line 5: /);
    assert.ok(users.get('ann')!.startsWith('$scrypt$'));
  });
});

describe('verifyPassword', () => {
  test('bcrypt $2b$ and $2y$ (htpasswd -B), and scrypt: the right password only', async () => {
    const b = bcrypt.hashSync('right', 4);
    for (const hash of [b, b.replace('$2b$', '$2y$'), scryptHash('right')]) {
      assert.equal(await verifyPassword('right', hash), true, hash);
      assert.equal(await verifyPassword('wrong', hash), false, hash);
      assert.equal(await verifyPassword('', hash), false, hash);
    }
  });
});

describe('UsersFile', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ssp-users-unit-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('a bad line or a missing file stops the start, naming the file and the line', async () => {
    const file = path.join(dir, 'bad');
    await writeFile(file, 'ann:secret\n');
    assert.throws(() => new UsersFile(file, capturedLogger().logger), (error: unknown) => error instanceof ConfigError && /bad: line 1: /.test(error.message));
    assert.throws(() => new UsersFile(path.join(dir, 'missing'), capturedLogger().logger), ConfigError);
  });

  test('verify: the user for the right password; undefined for a wrong one or an unknown user', async () => {
    const file = path.join(dir, 'users');
    await writeFile(file, `ann:${bcrypt.hashSync('pw', 4)}\n`);
    const users = new UsersFile(file, capturedLogger().logger);
    assert.equal(await users.verify('ann', 'pw'), 'ann');
    assert.equal(await users.verify('ann', 'nope'), undefined);
    assert.equal(await users.verify('nobody', 'pw'), undefined);
    assert.equal(await users.verify('Ann', 'pw'), undefined, 'user names are compared as written');
  });

  test('a changed file is read again at the next login; a bad line then is skipped and logged, the rest applies', async () => {
    const file = path.join(dir, 'changing');
    await writeFile(file, `ann:${bcrypt.hashSync('pw', 4)}\n`);
    const { logger, lines } = capturedLogger();
    const users = new UsersFile(file, logger);
    await writeFile(file, `bob:${bcrypt.hashSync('pw2', 4)}\nbroken line\n`);
    assert.equal(await users.verify('bob', 'pw2'), 'bob');
    assert.equal(await users.verify('ann', 'pw'), undefined, 'a user taken out of the file is gone');
    const reloaded = lines.find((line) => line.msg === 'users file reloaded; lines that are no user skipped');
    assert.deepEqual(reloaded?.problems, ['line 2: not "user:hash" with a bcrypt ($2b$/$2y$) or scrypt ($scrypt$ln=...) hash']);
  });

  test('a file that disappears keeps the users read before, and says so', async () => {
    const file = path.join(dir, 'vanishing');
    await writeFile(file, `ann:${bcrypt.hashSync('pw', 4)}\n`);
    const { logger } = capturedLogger();
    const users = new UsersFile(file, logger);
    await rm(file);
    assert.equal(await users.verify('ann', 'pw'), 'ann');
  });
});
