import { scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync, type Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { ConfigError } from '../errors.js';
import { bcryptCompare } from './bcrypt-worker.js';

const scrypt = promisify(scryptCallback) as (password: string, salt: Buffer, length: number, options: object) => Promise<Buffer>;

/**
 * Checked when a user is not in the file, so an unknown user takes as long as a wrong password
 * (a bcrypt hash of a random string at cost 10).
 */
const DUMMY_HASH = '$2b$10$hQHLsMGhlCTBSXjErBgBC.20ahH3dhb.O7cLf12JrC0Bt7ip8fXmK';

/** Dovecot's `doveadm pw` writes the scheme in front; the hash after it is what counts. */
const SCHEME_PREFIX = /^\{(?:BLF-CRYPT|CRYPT|SCRYPT)\}/i;
const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;
/** PHC string format, as passlib writes it: $scrypt$ln=15,r=8,p=1$salt$hash, base64 without padding. */
const SCRYPT = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+=*)\$([A-Za-z0-9+/]+=*)$/;

interface Parsed {
  readonly users: ReadonlyMap<string, string>;
  readonly problems: readonly string[];
}

/** `user:hash` lines; # comments and blank lines skipped; a line that is not one is a problem. */
export function parseUsers(text: string): Parsed {
  const users = new Map<string, string>();
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1).replace(SCHEME_PREFIX, '');
    if (colon <= 0 || !(BCRYPT.test(hash) || SCRYPT.test(hash))) {
      problems.push(`line ${index + 1}: not "user:hash" with a bcrypt ($2b$/$2y$) or scrypt ($scrypt$ln=...) hash`);
      return;
    }
    if (users.has(user)) problems.push(`line ${index + 1}: ${user} is listed twice; the last line counts`);
    users.set(user, hash);
  });
  return { users, problems };
}

/** Whether `password` matches `hash` (bcrypt or scrypt); neither holds up the event loop. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const scryptParts = SCRYPT.exec(hash);
  if (!scryptParts) return bcryptCompare(password, hash.replace(/^\$2y\$/, '$2b$'));
  const [, ln, r, p, salt, expected] = scryptParts;
  const want = Buffer.from(expected!, 'base64');
  const N = 2 ** Number(ln);
  const got = await scrypt(password, Buffer.from(salt!, 'base64'), want.length, { N, r: Number(r), p: Number(p), maxmem: 256 * N * Number(r) });
  return timingSafeEqual(got, want);
}

/**
 * The users of a `file` auth listener. The file is read at start-up (a problem in it stops
 * the start, naming the line) and again whenever it changed since the last login: a login
 * stats it (asynchronously, off the event loop), which costs far less than the hash it checks. A file that turns bad
 * later keeps its good lines and is logged; one that cannot be read keeps the users known.
 */
export class UsersFile {
  private users: ReadonlyMap<string, string>;
  private stamp: string;

  constructor(
    private readonly file: string,
    private readonly logger: Logger,
  ) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError(`config: cannot read the users file ${file}: ${(error as Error).message}`, { cause: error });
    }
    const { users, problems } = parseUsers(text);
    if (problems.length > 0) throw new ConfigError(`config: listen auth file ${file}: ${problems.join('; ')}`);
    this.users = users;
    this.stamp = stampOf(statSync(file));
  }

  /** The user's name when the password is theirs; undefined otherwise. */
  async verify(user: string, password: string): Promise<string | undefined> {
    await this.reloadIfChanged();
    const hash = this.users.get(user);
    const ok = await verifyPassword(password, hash ?? DUMMY_HASH);
    return ok && hash ? user : undefined;
  }

  private async reloadIfChanged(): Promise<void> {
    const stamp = await stat(this.file).then(stampOf, () => undefined);
    if (stamp === undefined || stamp === this.stamp) return;
    try {
      const { users, problems } = parseUsers(await readFile(this.file, 'utf8'));
      this.users = users;
      this.stamp = stamp;
      if (problems.length > 0) this.logger.warn({ file: this.file, problems }, 'users file reloaded; lines that are no user skipped');
      else this.logger.info({ file: this.file, users: users.size }, 'users file reloaded');
    } catch (error) {
      this.logger.error({ file: this.file, err: error }, 'users file cannot be read; the users read before still apply');
    }
  }
}

/** What tells a changed users file from the one read before, without reading it. */
function stampOf(stats: Stats): string {
  return `${stats.ino}:${stats.size}:${stats.mtimeMs}`;
}
