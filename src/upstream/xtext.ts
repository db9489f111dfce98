const PLUS = 0x2b;
const EQUALS = 0x3d;

/**
 * RFC 3461 section 4 xtext, as Postfix's XCLIENT expects its values: bytes 33..126 stand for
 * themselves except "+" and "=", everything else becomes "+XX" (upper-case hex). Non-ASCII
 * text is encoded as its UTF-8 bytes. The result is printable ASCII without spaces, so a
 * value can neither end an attribute nor start a new command line.
 */
export function xtextEncode(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    out += byte < 33 || byte > 126 || byte === PLUS || byte === EQUALS
      ? `+${byte.toString(16).toUpperCase().padStart(2, '0')}`
      : String.fromCharCode(byte);
  }
  return out;
}
