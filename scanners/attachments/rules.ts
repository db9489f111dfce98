/**
 * The attachment policy as pure functions: given what a MIME part calls itself, is it banned,
 * and in which words do we say so. Which names a part has is walk.ts's business.
 */

/** Windows runs, installs or mounts these on a double click. */
export const DEFAULT_BANNED: readonly string[] = Object.freeze([
  'exe', 'scr', 'com', 'pif', 'bat', 'cmd', 'vbs', 'vbe', 'js', 'jse', 'wsf', 'wsh', 'hta',
  'msi', 'msp', 'cpl', 'jar', 'lnk', 'ps1', 'reg', 'iso', 'img',
]);

export const DEFAULT_BANNED_TYPES: readonly string[] = Object.freeze([
  'application/x-msdownload', 'application/x-dosexec', 'application/x-ms-dos-executable',
  'application/x-msdos-program', 'application/x-msi', 'application/hta', 'application/x-ms-shortcut',
]);

/** Extensions a sender puts in front of an executable one so that it passes for a document. */
const DECOYS = new Set([
  'pdf', 'doc', 'docx', 'docm', 'xls', 'xlsx', 'xlsm', 'ppt', 'pptx', 'odt', 'ods', 'odp', 'rtf',
  'txt', 'csv', 'htm', 'html', 'xml', 'eml', 'jpg', 'jpeg', 'png', 'gif', 'bmp', 'tif', 'tiff',
  'svg', 'webp', 'heic', 'mp3', 'mp4', 'wav', 'avi', 'mov', 'zip', 'rar', '7z',
]);

// Bidi controls reorder what the reader sees ("invoice\u202Efdp.exe" shows as
// "invoiceexe.pdf"); a NUL ends the name for whatever reads it as a C string.
const HIDING = /[\u0000\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

// Windows drops trailing dots and spaces when it saves a file, so "setup.exe. " is setup.exe;
// zero-width characters and separators are dropped too, to err on the side of banning.
const TRAILING = /[\s./\\\u200b-\u200d\u2060]+$/u;

export interface Rules {
  readonly banned: ReadonlySet<string>;
  readonly bannedTypes: ReadonlySet<string>;
  readonly doubleExtensions: boolean;
  /** What the double-extension rule counts as executable: `banned` and the defaults. */
  readonly executable: ReadonlySet<string>;
}

export interface RuleOptions {
  readonly banned: readonly string[];
  readonly bannedTypes: readonly string[];
  readonly doubleExtensions: boolean;
}

export function compileRules(options: RuleOptions): Rules {
  const banned = new Set(options.banned.map((ext) => ext.trim().replace(/^\./, '').toLowerCase()));
  return {
    banned,
    bannedTypes: new Set(options.bannedTypes.map((type) => type.trim().toLowerCase())),
    doubleExtensions: options.doubleExtensions,
    executable: new Set([...banned, ...DEFAULT_BANNED]),
  };
}

/** The extensions of a file name as Windows would see them, lower case, outermost last. */
export function extensionsOf(name: string): string[] {
  const trimmed = name.replace(TRAILING, '');
  const base = trimmed.slice(Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\')) + 1);
  return base
    .toLowerCase()
    .split('.')
    .slice(1)
    .map((segment) => segment.trim())
    .filter((segment) => segment !== '');
}

/**
 * A name for an SMTP reply: printable ASCII only (the reply may not carry anything else, and
 * must not carry the bidi trick it reports), short, and keeping its end, where the extension is.
 */
export function forReply(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '?');
  return ascii.length <= 60 ? ascii : `${ascii.slice(0, 20)}...${ascii.slice(-37)}`;
}

/** Why a part with this name (if it has one) and declared type is banned; undefined if not. */
export function judge(name: string | undefined, contentType: string, rules: Rules): string | undefined {
  if (name !== undefined) {
    const shown = forReply(name);
    if (HIDING.test(name)) return `file name hides its extension: ${shown}`;
    const extensions = extensionsOf(name);
    const last = extensions.at(-1);
    if (last === undefined) return judgeType(contentType, shown, rules);
    const previous = extensions.at(-2);
    if (
      rules.doubleExtensions &&
      previous !== undefined &&
      DECOYS.has(previous) &&
      rules.executable.has(last)
    ) {
      return `double extension hides a banned type: ${shown}`;
    }
    if (rules.banned.has(last)) return `banned attachment type: ${shown}`;
    return judgeType(contentType, shown, rules);
  }
  return judgeType(contentType, undefined, rules);
}

function judgeType(contentType: string, shown: string | undefined, rules: Rules): string | undefined {
  const type = contentType.trim().toLowerCase();
  if (!rules.bannedTypes.has(type)) return undefined;
  return shown === undefined ? `banned content type: ${forReply(type)}` : `banned content type ${forReply(type)}: ${shown}`;
}

/** What walk.ts tells about one MIME part. */
export interface PartLabels {
  /** Every file name the part's headers give, each header read on its own. */
  readonly names: readonly string[];
  /** Every content type the part declares (or that the parser assumed for it). */
  readonly types: readonly string[];
  /** An attached message nested deeper than the walker opens. */
  readonly unopened: boolean;
}

export interface Finding {
  /** The offending file name, or the content type of a part without a name. */
  readonly item: string;
  readonly reason: string;
}

/** The first reason to ban a part, trying every reading of it: a part is banned if any is. */
export function judgePart(part: PartLabels, rules: Rules): Finding | undefined {
  const names: readonly (string | undefined)[] = part.names.length > 0 ? part.names : [undefined];
  const types = part.types.length > 0 ? part.types : [''];
  for (const name of names) {
    for (const type of types) {
      const reason = judge(name, type, rules);
      if (reason !== undefined) return { item: name ?? type, reason };
    }
  }
  if (part.unopened) {
    const item = part.names[0] ?? 'message/rfc822';
    return { item, reason: `attached messages nested too deeply: ${forReply(item)}` };
  }
  return undefined;
}
