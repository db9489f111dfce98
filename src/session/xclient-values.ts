/** XCLIENT's own word for "unknown"; it is valid for every attribute. */
export const UNAVAILABLE = '[UNAVAILABLE]';

/**
 * Postfix refuses a whole XCLIENT command ("501 5.5.4 Error: attribute value too long") when a
 * decoded value is longer than 255 bytes, and "Bad NAME syntax" for a NAME or REVERSE_NAME that
 * is not a valid host name. Both come from the client (its HELO, its PTR record), so sent as
 * they are they would defer that client's mail on every retry.
 */
export const MAX_VALUE_BYTES = 255;

export interface XclientValues {
  readonly attributes: Readonly<Record<string, string>>;
  /** What was changed to fit, for the log: "HELO cut to 255 bytes", "NAME left out: ...". */
  readonly adjusted: readonly string[];
}

/** Postfix's valid_hostname(): labels of letters, digits, - and _, at most 63 each, not all numeric. */
function isValidHostname(name: string): boolean {
  if (name.length > MAX_VALUE_BYTES || /^[\d.]+$/.test(name)) return false;
  const labels = name.replace(/\.$/, '').split('.');
  return labels.every((label) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label));
}

/** The longest prefix of `text` (whole characters) of at most `max` UTF-8 bytes. */
function cutToBytes(text: string, max: number): string {
  let bytes = 0;
  let cut = '';
  for (const char of text) {
    bytes += Buffer.byteLength(char, 'utf8');
    if (bytes > max) break;
    cut += char;
  }
  return cut;
}

/**
 * Values Postfix takes: a HELO is cut to 255 bytes (it was an invalid name anyway, and the
 * start of it still says who the client claimed to be); a NAME or REVERSE_NAME that is no valid
 * host name becomes [UNAVAILABLE], as Postfix's own smtpd treats a PTR it cannot use.
 */
export function fitXclientValues(values: Readonly<Record<string, string>>): XclientValues {
  const attributes: Record<string, string> = {};
  const adjusted: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    if (value.startsWith('[') && value.endsWith(']')) {
      attributes[name] = value;
    } else if ((name === 'NAME' || name === 'REVERSE_NAME') && !isValidHostname(value)) {
      attributes[name] = UNAVAILABLE;
      adjusted.push(`${name} left out (not a valid host name: ${JSON.stringify(value.slice(0, 80))})`);
    } else if (Buffer.byteLength(value, 'utf8') > MAX_VALUE_BYTES) {
      attributes[name] = cutToBytes(value, MAX_VALUE_BYTES);
      adjusted.push(`${name} cut to ${MAX_VALUE_BYTES} bytes (was ${Buffer.byteLength(value, 'utf8')})`);
    } else {
      attributes[name] = value;
    }
  }
  return { attributes, adjusted };
}

/**
 * The same attributes with every IPv6 address replaced by [UNAVAILABLE], for an upstream that
 * takes none (Postfix with inet_protocols = ipv4 answers "501 5.5.4 Bad ADDR syntax"); undefined
 * when there is no IPv6 address to replace. An unknown address matches no mynetworks entry, so
 * the client gains no trust from it.
 */
export function withoutIpv6(attributes: Readonly<Record<string, string>>): Record<string, string> | undefined {
  const entries = Object.entries(attributes);
  if (!entries.some(([, value]) => value.toUpperCase().startsWith('IPV6:'))) return undefined;
  return Object.fromEntries(entries.map(([name, value]) => [name, value.toUpperCase().startsWith('IPV6:') ? UNAVAILABLE : value]));
}
