// mailauth's signer picks the signed header instances itself and cannot oversign (a name listed
// twice in headerList still signs only the instances present), so src/dkim/signature.ts composes
// a signature from the parts mailauth signs with. Those parts are CommonJS without typings; these
// are the shapes of mailauth 4.13 (package.json pins ~4.13.3; a unit test verifies what we
// sign with mailauth's public dkimVerify, so a change of shape fails there).

declare module 'mailauth/lib/tools.js' {
  export interface ParsedHeader {
    /** Lowercased field name; null for a line without a colon. */
    readonly key: string | null;
    readonly casedKey: string | undefined;
    /** The whole field as it is in the message, folding included, without the final CRLF. */
    readonly line: Buffer;
  }
  export interface SigningHeaderLines {
    /** The h= value: field names joined with ': '. */
    keys: string;
    headers: ParsedHeader[];
  }
  export function parseHeaders(block: Buffer): { parsed: ParsedHeader[]; original: Buffer };
  /** Signing: every present instance of the colon-separated names, bottom up. */
  export function getSigningHeaderLines(parsed: readonly ParsedHeader[], fieldNames: string): SigningHeaderLines;
  export function formatSignatureHeaderLine(type: 'DKIM', values: Record<string, string | number>, folded: boolean): string;
}

declare module 'mailauth/lib/dkim/header/index.js' {
  import type { SigningHeaderLines } from 'mailauth/lib/tools.js';
  export function generateCanonicalizedHeader(
    type: 'DKIM',
    lines: SigningHeaderLines,
    options: { signingDomain: string; selector: string; algorithm: string; canonicalization: string; bodyHash: string; signTime: Date },
  ): { canonicalizedHeader: Buffer; dkimHeaderOpts: Record<string, string | number> };
}

declare module 'mailauth/lib/dkim/body/index.js' {
  export interface BodyHasher {
    update(chunk: Buffer): void;
    digest(encoding: 'base64'): string;
  }
  export function dkimBody(canonicalization: string, hashAlgorithm: string, maxBodyLength: number | false): BodyHasher;
}
