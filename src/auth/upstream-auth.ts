import { UpstreamMissingExtensionError } from '../errors.js';
import type { SmtpReply } from '../smtp/reply.js';
import type { UpstreamClient } from '../upstream/client.js';
import type { Credentials } from './listener-auth.js';

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/**
 * The client's login relayed to the upstream's own SASL service (auth: upstream), on the
 * session that will carry this user's mail: PLAIN when the upstream offers it (one round
 * trip), else LOGIN. Whatever the client used, the upstream gets the same user and password;
 * its reply is the client's. Nothing here is kept or logged.
 */
export async function relayLogin(client: UpstreamClient, credentials: Credentials): Promise<SmtpReply> {
  const offered = new Set((client.capabilities.params('AUTH') ?? []).map((name) => name.toUpperCase()));
  if (offered.has('PLAIN')) return client.command(`AUTH PLAIN ${b64(`\0${credentials.username}\0${credentials.password}`)}`);
  if (!offered.has('LOGIN')) {
    throw new UpstreamMissingExtensionError('the upstream offers no AUTH PLAIN or LOGIN (is its SASL service up, and TLS on?)');
  }
  for (const line of ['AUTH LOGIN', b64(credentials.username)]) {
    const reply = await client.command(line);
    if (reply.code !== 334) return reply;
  }
  return client.command(b64(credentials.password));
}
