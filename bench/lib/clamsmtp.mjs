// ClamSMTP (Debian's clamsmtp, the C peer that does our job with clamd only), started as a
// private instance with its own config file: it listens on a free loopback port, scans with
// the bench's clamd and relays to the bench's smtp-sink.
import { chownSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { freePort, start, stop, waitBanner } from './procs.mjs';
import { RUN_DIR, findBinary, tail } from './targets.mjs';

/** Connections ClamSMTP accepts at once: above the "many senders" sessions, so its default of 64 does not throttle it. */
export const CLAMSMTP_MAX_CONNECTIONS = 256;

/** The Debian package's version, with its patch level (clamsmtpd -v gives 1.10 only). */
export function clamsmtpVersion() {
  try {
    return execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'clamsmtp'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

function uid(user) {
  try {
    return Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
  } catch {
    return null;
  }
}

/**
 * `Action: bounce` makes a virus a 5xx at the end of DATA, as the proxy answers it (Debian's
 * default, drop, tells the client 250 and discards the mail). `Header:` empty: the proxy adds
 * no header to a clean message in this bench either. As root it drops to the sink's user
 * (postfix); clamd reads its temp files, so both share the bench's private temp directory.
 */
export async function startClamsmtp({ sinkPort, env, name = 'clamsmtp' }) {
  const bin = findBinary('clamsmtpd');
  if (!bin) throw new Error('clamsmtpd not found: apt-get install clamsmtp (the bench never starts Debian\'s service, only its own instance)');
  const port = await freePort();
  const dir = path.join(RUN_DIR, name);
  const tmp = path.join(dir, 'tmp');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const user = process.getuid?.() === 0 && existsSync('/etc/postfix') ? 'postfix' : null;
  const userId = user ? uid(user) : null;
  if (userId != null) chownSync(tmp, userId, -1);
  const config = path.join(dir, 'clamsmtpd.conf');
  writeFileSync(
    config,
    [
      `Listen: 127.0.0.1:${port}`,
      `OutAddress: 127.0.0.1:${sinkPort}`,
      `ClamAddress: 127.0.0.1:${env.clamdPort}`,
      `TempDirectory: ${tmp}`,
      'Action: bounce',
      'Header:',
      `MaxConnections: ${CLAMSMTP_MAX_CONNECTIONS}`,
      'TimeOut: 180',
      ...(userId != null ? [`User: ${user}`] : []),
      '',
    ].join('\n'),
  );
  const logFile = path.join(RUN_DIR, 'logs', `${name}.log`);
  rmSync(logFile, { force: true });
  // -d keeps it in the foreground (so the PID is the one to stop) and logs errors to stderr.
  const proc = start(name, bin, ['-d', '1', '-f', config], { logFile });
  try {
    await waitBanner(port, { proc, timeout: 10_000 });
  } catch (e) {
    await stop(proc, { grace: 1000 });
    throw new Error(`${name}: ${e.message}\n${tail(logFile)}`);
  }
  return { kind: 'clamsmtp', name, port, proc, config, logFile, stop: () => stop(proc, { signal: 'SIGTERM', grace: 5000 }) };
}
