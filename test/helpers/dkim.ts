import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { services } from './services.js';

const run = promisify(execFile);

/** Adds a zone file line (as dkim-keygen prints it) to the test DNS; unbound answers it at once. */
export async function publishRecord(line: string): Promise<void> {
  const { stdout } = await run('unbound-control', ['-c', services.unboundConfig, 'local_data', line]);
  if (stdout.trim() !== 'ok') throw new Error(`unbound-control local_data: ${stdout}`);
}

export interface Verification {
  readonly selector: string;
  readonly algorithm: string;
  /** pass, fail, invalid, ... as the verifier words it. */
  readonly result: string;
}

// Mail::DKIM (Debian's libmail-dkim-perl) with Net::DNS asking the test DNS. It has no Ed25519
// (that needs CryptX, which Debian's package does not pull in): those signatures come back invalid.
const MAIL_DKIM = `
use strict; use Mail::DKIM::Verifier; use Mail::DKIM::DNS; use Net::DNS::Resolver;
Mail::DKIM::DNS::resolver(Net::DNS::Resolver->new(nameservers => ['127.0.0.1'], port => $ENV{DNS_PORT}));
my $dkim = Mail::DKIM::Verifier->new();
while (my $line = <STDIN>) { $line =~ s/\\r?\\n\\z/\\r\\n/; $dkim->PRINT($line); }
$dkim->CLOSE;
print join(' ', $_->selector, $_->algorithm, $_->result), "\\n" for $dkim->signatures;
`;

// dkimpy (python3-dkim; Ed25519 through python3-nacl), its DNS lookups through dnspython to the test DNS.
const DKIMPY = `
import os, sys, dkim, dns.resolver
resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers = ['127.0.0.1']
resolver.port = int(os.environ['DNS_PORT'])
def dnsfunc(name, timeout=5):
    name = name.decode() if isinstance(name, bytes) else name
    try:
        answer = resolver.resolve(name.rstrip('.'), 'TXT', lifetime=timeout)
    except Exception:
        return None
    return b''.join(answer[0].strings)
message = sys.stdin.buffer.read().replace(b'\\r\\n', b'\\n').replace(b'\\n', b'\\r\\n')
checker = dkim.DKIM(message)
count = sum(1 for name, _ in checker.headers if name.lower() == b'dkim-signature')
for index in range(count):
    ok = checker.verify(idx=index, dnsfunc=dnsfunc)
    print(checker.selector.decode(), checker.signature_fields[b'a'].decode(), 'pass' if ok else 'fail')
`;

/** What Mail::DKIM says of each signature of a message (a Maildir file: LF line ends are fine). */
export function verifyWithMailDkim(message: string | Buffer): Promise<Verification[]> {
  return verify('perl', ['-e', MAIL_DKIM], message);
}

/** What dkimpy says of each signature of a message. */
export function verifyWithDkimpy(message: string | Buffer): Promise<Verification[]> {
  // Debian's interpreter, where python3-dkim is, whatever python3 comes first on PATH.
  return verify('/usr/bin/python3', ['-c', DKIMPY], message);
}

async function verify(command: string, args: string[], message: string | Buffer): Promise<Verification[]> {
  const child = execFile(command, args, { env: { ...process.env, DNS_PORT: String(services.unboundPort) }, maxBuffer: 1024 * 1024 });
  const output = new Promise<string>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${command} exited ${code}: ${stderr}`))));
  });
  child.stdin!.end(typeof message === 'string' ? Buffer.from(message, 'latin1') : message);
  return (await output)
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [selector = '', algorithm = '', result = ''] = line.split(' ');
      return { selector, algorithm, result };
    });
}
