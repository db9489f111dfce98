import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { domainToASCII } from 'node:url';
import { parseHeaders, type ParsedHeader } from 'mailauth/lib/tools.js';
import { MAX_HEADER_SIZE, type SizedMessage } from '../message/outgoing.js';
import { AddressRanges } from '../screen/address-ranges.js';
import type { DkimSettings } from './config.js';
import { fromDomain } from './from-domain.js';
import { loadSigningKeys } from './keys.js';
import { digestMessage } from './message-digest.js';
import { dkimSignatures, type SigningKey } from './signature.js';
import { rfc5322Date } from '../message/date.js';

export interface SigningContext {
  readonly clientAddress: string;
  /** The authenticated login, if any: such mail is always signed. */
  readonly user: string | undefined;
  /** The envelope sender (MAIL FROM), '' for a bounce. */
  readonly mailFrom: string;
  /** The upstream session offered 8BITMIME. */
  readonly eightBitMime: boolean;
}

/** What the message's log line says about signing; undefined for mail that is not ours to sign. */
export type DkimFacts = { readonly domain: string; readonly selectors: readonly string[]; readonly added?: readonly string[] } | { readonly unsigned: string };

export interface OutgoingMessage {
  readonly message: Readable;
  /** Of `message`, in bytes, signatures included. */
  readonly size: number;
  readonly dkim?: DkimFacts;
}

/**
 * The signing step between policy and upstream DATA. Mail of authenticated sessions and of the
 * configured networks is signed with every key of its header From domain; the signatures cover
 * the message exactly as it is sent, verdict headers included. Signing streams the spool twice
 * (once to hash, once to send), holding only the header block: a large message costs no memory.
 * A message without Date or Message-ID gets them first (RFC 6409 8.2, 8.3), so they are signed.
 */
export class MessageSigner {
  private readonly networks: AddressRanges;

  constructor(
    private readonly keys: ReadonlyMap<string, readonly SigningKey[]>,
    private readonly settings: Pick<DkimSettings, 'networks' | 'headers' | 'oversign' | 'matchSender'>,
  ) {
    this.networks = new AddressRanges(settings.networks);
  }

  /** Reads the key files: throws a ConfigError naming the entry that cannot be used. */
  static fromSettings(settings: DkimSettings): MessageSigner {
    return new MessageSigner(loadSigningKeys(settings.keys), settings);
  }

  /**
   * The message to send upstream: signed when it is ours to sign, else as `message` makes it.
   * `message` gives a fresh stream of the same bytes at each call (outgoingMessage of the spool).
   */
  async outgoing(message: () => Promise<SizedMessage>, context: SigningContext): Promise<OutgoingMessage> {
    const plain = async (dkim?: DkimFacts): Promise<OutgoingMessage> => {
      const { stream, size } = await message();
      return { message: stream, size, ...(dkim ? { dkim } : {}) };
    };
    if (!context.user && !this.fromNetworks(context.clientAddress)) return plain();
    let unsigned = 'header section too long';
    let keys: readonly SigningKey[] = [];
    const digest = await digestMessage((await message()).stream, MAX_HEADER_SIZE, (header) => {
      const from = fromDomain(parseHeaders(header).parsed);
      if ('unsigned' in from) unsigned = from.unsigned;
      else if (this.notTheSendersDomain(from.domain, context)) unsigned = `From domain ${from.domain} is not the envelope sender's`;
      else if (!this.keys.has(from.domain)) unsigned = `no key for ${from.domain}`;
      else keys = this.keys.get(from.domain)!;
      return keys.length > 0;
    });
    if (!digest) return plain({ unsigned });
    // The next hop would convert 8-bit content to 7 bits, which changes the body we sign.
    if (digest.eightBit && !context.eightBitMime) return plain({ unsigned: '8-bit content and the upstream offers no 8BITMIME' });
    const domain = keys[0]!.domain;
    const added = missingFields(parseHeaders(digest.header).parsed, domain, new Date());
    const addedBytes = Buffer.from(added.map(([name, value]) => `${name}: ${value}\r\n`).join(''), 'latin1');
    const { headers, oversign } = this.settings;
    const signatures = dkimSignatures(parseHeaders(Buffer.concat([addedBytes, digest.header])).parsed, digest.bodyHash, keys, { headers, oversign, time: new Date() });
    const rest = await message();
    return {
      message: Readable.from(prefixed([signatures, addedBytes], rest.stream)),
      size: signatures.length + addedBytes.length + rest.size,
      dkim: { domain, selectors: keys.map((key) => key.selector), ...(added.length > 0 ? { added: added.map(([name]) => name) } : {}) },
    };
  }

  private notTheSendersDomain(domain: string, { user, mailFrom }: SigningContext): boolean {
    if (!user || !this.settings.matchSender || mailFrom === '') return false;
    return domainToASCII(mailFrom.slice(mailFrom.lastIndexOf('@') + 1)) !== domain;
  }

  private fromNetworks(address: string): boolean {
    return this.networks.has(address);
  }
}

/** The message to send upstream: through the signer when one is configured. */
export async function signedOutgoing(signer: MessageSigner | undefined, message: () => Promise<SizedMessage>, context: SigningContext): Promise<OutgoingMessage> {
  if (signer) return signer.outgoing(message, context);
  const { stream, size } = await message();
  return { message: stream, size };
}

async function* prefixed(prefix: readonly Buffer[], rest: Readable): AsyncGenerator<Buffer> {
  for (const buffer of prefix) if (buffer.length > 0) yield buffer;
  yield* rest as AsyncIterable<Buffer>;
}

/** Date and Message-ID, when the message lacks them, as a submission server may add them. */
export function missingFields(headers: readonly ParsedHeader[], domain: string, now: Date): [string, string][] {
  const has = (name: string) => headers.some((header) => header.key === name);
  const added: [string, string][] = [];
  if (!has('date')) added.push(['Date', rfc5322Date(now)]);
  if (!has('message-id')) added.push(['Message-ID', `<${randomUUID()}@${domain}>`]);
  return added;
}
