// RFC 5321 4.1.1.1 ehlo-keyword; anything else on an EHLO line (Postfix's "AUTH=PLAIN" for
// broken clients, stray text) is not an extension we could use, so it is skipped.
const KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/;

/** What an upstream offered in its EHLO reply. Immutable; a new EHLO gives a new instance. */
export class Capabilities {
  /** Keyword (uppercased) → its parameters as sent. */
  readonly keywords: ReadonlyMap<string, readonly string[]>;

  private constructor(keywords: Map<string, readonly string[]>) {
    this.keywords = keywords;
  }

  /** After HELO, or before any greeting: no extension may be used. */
  static none(): Capabilities {
    return new Capabilities(new Map());
  }

  /** From the lines of a 250 EHLO reply; the first line is the server's name and greeting. */
  static fromEhlo(lines: readonly string[]): Capabilities {
    const keywords = new Map<string, readonly string[]>();
    for (const line of lines.slice(1)) {
      const [keyword, ...params] = line.trim().split(/\s+/);
      if (!keyword || !KEYWORD.test(keyword)) continue;
      const name = keyword.toUpperCase();
      // The first mention wins: a server repeating a keyword does not get to take it back.
      if (!keywords.has(name)) keywords.set(name, Object.freeze(params));
    }
    return new Capabilities(keywords);
  }

  has(keyword: string): boolean {
    return this.keywords.has(keyword.toUpperCase());
  }

  params(keyword: string): readonly string[] | undefined {
    return this.keywords.get(keyword.toUpperCase());
  }

  /**
   * RFC 1870 SIZE: undefined when not offered; 0 when offered without a (usable) limit, which
   * the RFC reads as "no fixed maximum".
   */
  get size(): number | undefined {
    const params = this.params('SIZE');
    if (!params) return undefined;
    const value = params[0];
    return value !== undefined && /^\d+$/.test(value) ? Number(value) : 0;
  }

  /** The attribute names after XCLIENT (Postfix: NAME ADDR PROTO HELO ...), uppercased. */
  get xclientAttributes(): ReadonlySet<string> {
    return new Set((this.params('XCLIENT') ?? []).map((name) => name.toUpperCase()));
  }

  get pipelining(): boolean {
    return this.has('PIPELINING');
  }

  get starttls(): boolean {
    return this.has('STARTTLS');
  }

  get eightBitMime(): boolean {
    return this.has('8BITMIME');
  }

  get smtpUtf8(): boolean {
    return this.has('SMTPUTF8');
  }

  get dsn(): boolean {
    return this.has('DSN');
  }

  get enhancedStatusCodes(): boolean {
    return this.has('ENHANCEDSTATUSCODES');
  }

  get chunking(): boolean {
    return this.has('CHUNKING');
  }
}
