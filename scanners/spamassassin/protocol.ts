import { scanError, type Verdict } from '../../src/scan/verdict.js';

/*
 * The spamc/spamd protocol: a request line, headers, a blank line and Content-length bytes of
 * message; spamd answers with a status line, headers, a blank line and a body, then closes.
 */

export const PING = Buffer.from('PING SPAMC/1.5\r\n\r\n');

/** A SYMBOLS or HEADERS reply is short; anything this long is not spamd talking to us. */
export const MAX_RESPONSE = 64 * 1024;

/** What version() scans: spamd has no VERSION command, but its HEADERS reply names itself. */
export const VERSION_PROBE = Buffer.from('Subject: version probe\r\n\r\n\r\n');

/** `user` is checked by the options schema to hold no CR or LF. */
export function encodeRequest(method: 'SYMBOLS' | 'HEADERS', contentLength: number, user?: string): Buffer {
  const userLine = user === undefined ? '' : `User: ${user}\r\n`;
  return Buffer.from(`${method} SPAMC/1.5\r\nContent-length: ${contentLength}\r\n${userLine}\r\n`);
}

export interface SpamdResponse {
  readonly protocol: string;
  readonly code: number;
  /** EX_OK, PONG, or the text of an error such as "Bad header line: ...". */
  readonly message: string;
  /** Lower-cased header names. */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Buffer;
}

export class SpamdProtocolError extends Error {
  override readonly name = 'SpamdProtocolError';
}

const STATUS = /^SPAMD\/(\d+\.\d+) (\d+) (.*)$/;
const HEAD_END = Buffer.from('\r\n\r\n');

/** Parses a complete response (everything spamd sent before it closed). */
export function parseResponse(raw: Buffer): SpamdResponse {
  if (raw.length === 0) throw new SpamdProtocolError('spamd closed the connection without a reply');
  const lineEnd = raw.indexOf('\r\n');
  const status = STATUS.exec(raw.subarray(0, lineEnd === -1 ? raw.length : lineEnd).toString('latin1'));
  if (!status || lineEnd === -1) throw new SpamdProtocolError(`not a spamd status line: ${quote(raw)}`);
  const [, protocol = '', code = '', message = ''] = status;
  const headers = new Map<string, string>();
  const headEnd = raw.indexOf(HEAD_END, lineEnd);
  if (headEnd === -1) {
    // Error replies and PONG are a status line alone; anything more must end its headers.
    if (raw.length > lineEnd + 2) throw new SpamdProtocolError(`spamd reply cut before the end of its headers: ${quote(raw)}`);
    return { protocol, code: Number(code), message, headers, body: Buffer.alloc(0) };
  }
  for (const line of raw.subarray(lineEnd + 2, headEnd).toString('latin1').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new SpamdProtocolError(`bad spamd header line: ${quote(Buffer.from(line, 'latin1'))}`);
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const body = raw.subarray(headEnd + HEAD_END.length);
  const length = headers.get('content-length');
  if (length === undefined || !/^\d+$/.test(length)) throw new SpamdProtocolError('spamd reply without a Content-length');
  if (Number(length) !== body.length) {
    throw new SpamdProtocolError(`spamd reply body has ${body.length} bytes, Content-length says ${length}`);
  }
  return { protocol, code: Number(code), message, headers, body };
}

const NUMBER = String.raw`([-+]?(?:\d+(?:\.\d*)?|\.\d+))`;
const SPAM = new RegExp(String.raw`^(True|False|Yes|No)\s*;\s*${NUMBER}\s*/\s*${NUMBER}$`, 'i');

/** `Spam: False ; -1.9 / 5.0`: the score may be negative, and spamd prints "-0.0". */
export function parseSpamHeader(value: string): { score: number; threshold: number } {
  const match = SPAM.exec(value);
  if (!match) throw new SpamdProtocolError(`bad Spam header: ${JSON.stringify(value)}`);
  // `+ 0` turns -0 into 0, so "-0.0" compares and prints as the 0 it means.
  return { score: Number(match[2]) + 0, threshold: Number(match[3]) + 0 };
}

/** The SYMBOLS body: rule names separated by commas, possibly none. */
export function parseRules(body: Buffer): string[] {
  return body
    .toString('latin1')
    .split(',')
    .map((rule) => rule.trim())
    .filter((rule) => rule.length > 0);
}

/** sysexits.h names of the codes spamd answers with, for readable error details. */
const EX: Readonly<Record<number, string>> = {
  64: 'EX_USAGE', 65: 'EX_DATAERR', 66: 'EX_NOINPUT', 67: 'EX_NOUSER', 68: 'EX_NOHOST',
  69: 'EX_UNAVAILABLE', 70: 'EX_SOFTWARE', 71: 'EX_OSERR', 72: 'EX_OSFILE', 73: 'EX_CANTCREAT',
  74: 'EX_IOERR', 75: 'EX_TEMPFAIL', 76: 'EX_PROTOCOL', 77: 'EX_NOPERM', 78: 'EX_CONFIG',
};

/** Checks the status of a parsed response; throws with spamd's own text when it is not 0. */
function expectOk(response: SpamdResponse): void {
  if (response.code === 0) return;
  const name = EX[response.code] ?? 'error';
  throw new SpamdProtocolError(`spamd ${name} (${response.code}): ${printable(response.message)}`);
}

/** Maps everything spamd sent for a SYMBOLS request to a verdict; it never throws. */
export function symbolsVerdict(raw: Buffer): Verdict {
  try {
    const response = parseResponse(raw);
    expectOk(response);
    const spam = response.headers.get('spam');
    if (spam === undefined) throw new SpamdProtocolError('spamd reply without a Spam header');
    return { kind: 'scored', ...parseSpamHeader(spam), rules: parseRules(response.body) };
  } catch (error) {
    if (error instanceof SpamdProtocolError) return scanError('protocol', error.message);
    throw error;
  }
}

export function isPong(raw: Buffer): boolean {
  const response = parseResponse(raw);
  return response.code === 0 && response.message === 'PONG';
}

/** "SpamAssassin 4.0.1 (2024-03-25)" from the X-Spam-Checker-Version header of a HEADERS reply. */
export function parseVersion(raw: Buffer): string | undefined {
  const response = parseResponse(raw);
  expectOk(response);
  const match = /^X-Spam-Checker-Version: (SpamAssassin \S+(?: \([^)]*\))?)/im.exec(response.body.toString('latin1'));
  return match?.[1];
}

function quote(raw: Buffer): string {
  return JSON.stringify(raw.subarray(0, 120).toString('latin1'));
}

/** spamd echoes our request in its errors; control characters must not reach logs as such. */
function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]+/g, ' ').slice(0, 300);
}
