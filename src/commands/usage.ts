import { parseArgs } from 'node:util';
import type { KeygenRequest } from './dkim-keygen.js';

export const USAGE = `Usage: smtp-scan-proxy [--config FILE] [--check]
       smtp-scan-proxy scan [--config FILE] FILE|-
       smtp-scan-proxy check-config [--config FILE] [--print]
       smtp-scan-proxy dkim-keygen DOMAIN SELECTOR [--ed25519] [--dir DIR]
       smtp-scan-proxy --version | --help

Runs the SMTP scanning proxy. The config file (YAML) may also be named by the
SMTP_SCAN_PROXY_CONFIG environment variable; without one, the built-in defaults apply
(listen 127.0.0.1:2525, upstream 127.0.0.1:25, no scanners).

--check       asks a running proxy (same config) for its banner and checks that the
              upstream and each scanner answer; exits 0 when the proxy answers.
scan FILE|-   scans one message (a file, or - for standard input) with the configured
              scanners and policy, as the proxy would; prints each verdict with its time,
              the decision and the client's reply. Exit 0 pass, 1 reject, 2 tempfail or error.
check-config  validates the config and what the proxy checks on this machine at start-up;
              --print also prints the effective config, defaults included, as YAML.
dkim-keygen   writes a DKIM key for DOMAIN and SELECTOR to DIR/DOMAIN.SELECTOR.key (mode
              600; RSA 2048, or Ed25519 with --ed25519; DIR defaults to the current one)
              and prints the DNS TXT record to publish.
--version     prints the version.`;

/** A command line we cannot act on: one line saying why, then the usage; exit 64 (EX_USAGE). */
export class UsageError extends Error {}

export type Command =
  | { readonly name: 'run'; readonly config?: string; readonly check: boolean }
  | { readonly name: 'scan'; readonly config?: string; readonly input: string }
  | { readonly name: 'check-config'; readonly config?: string; readonly print: boolean }
  | ({ readonly name: 'dkim-keygen' } & KeygenRequest)
  | { readonly name: 'help' }
  | { readonly name: 'version' };

const SUBCOMMANDS = ['scan', 'check-config', 'dkim-keygen'];

/** Reads the command line; a mistake is a UsageError naming it. */
export function parseCommand(args: readonly string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: {
        config: { type: 'string', short: 'c' },
        check: { type: 'boolean' },
        print: { type: 'boolean' },
        ed25519: { type: 'boolean' },
        dir: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError(describeParseError(error as Error & { code?: string }));
  }
  const { values, positionals } = parsed;
  if (values.help) return { name: 'help' };
  if (values.version) return { name: 'version' };
  const [subcommand, ...rest] = positionals;
  const config = values.config === undefined ? {} : { config: values.config };
  if (subcommand !== undefined && !SUBCOMMANDS.includes(subcommand)) throw new UsageError(`unknown command '${subcommand}'`);
  if (values.check && subcommand) throw new UsageError(`--check does not go with ${subcommand}`);
  if (values.print && subcommand !== 'check-config') throw new UsageError('--print goes with check-config only');
  if ((values.ed25519 || values.dir !== undefined) && subcommand !== 'dkim-keygen') throw new UsageError(`--${values.ed25519 ? 'ed25519' : 'dir'} goes with dkim-keygen only`);
  if (subcommand === 'dkim-keygen') {
    if (values.config !== undefined) throw new UsageError('dkim-keygen reads no config');
    if (rest.length !== 2) throw new UsageError('dkim-keygen needs a DOMAIN and a SELECTOR');
    return { name: 'dkim-keygen', domain: rest[0]!, selector: rest[1]!, algorithm: values.ed25519 ? 'ed25519' : 'rsa', dir: values.dir ?? '.' };
  }
  if (subcommand === 'scan') {
    if (rest.length !== 1) throw new UsageError(rest.length === 0 ? 'scan needs a FILE, or - for standard input' : `scan takes one FILE, not ${rest.length}`);
    return { name: 'scan', ...config, input: rest[0]! };
  }
  if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`);
  if (subcommand === 'check-config') return { name: 'check-config', ...config, print: Boolean(values.print) };
  return { name: 'run', ...config, check: Boolean(values.check) };
}

/** node:util's messages carry advice for its own users; ours name the option and stop there. */
function describeParseError(error: Error & { code?: string }): string {
  const option = /'([^']+)'/.exec(error.message)?.[1];
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option '${option}'`;
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') return error.message.split('. ')[0]!.replace(/^Option/, 'option');
  return error.message;
}
