/**
 * An SMTP reply as a value. Our own replies come from the frozen table in replies.ts;
 * replies relayed from the upstream keep their code, enhanced code and text.
 */
export interface SmtpReply {
  readonly code: number;
  /** RFC 3463 enhanced status code ("5.1.1"), when the reply has one. */
  readonly enhanced?: string | undefined;
  /** One line, no CR/LF, no control characters. */
  readonly text: string;
}

const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?: |$)/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]+/g;

/** Collapses a possibly multi-line text to one line without control characters. */
export function oneLine(text: string): string {
  return text.replace(CONTROL, ' ').replace(/ {2,}/g, ' ').trim();
}

/**
 * Builds a reply from upstream reply lines ("5.1.1 <x@y>: Recipient ..."), splitting off the
 * enhanced code of the first line when it has one and joining the lines into one.
 */
export function replyFromLines(code: number, lines: readonly string[]): SmtpReply {
  const first = lines[0] ?? '';
  const match = ENHANCED.exec(first);
  const enhanced = match && match[1] === String(code)[0] ? `${match[1]}.${match[2]}.${match[3]}` : undefined;
  // Continuation lines repeat the code (RFC 2034); only that exact code is taken off.
  const strip = (line: string) => (enhanced && (line === enhanced || line.startsWith(`${enhanced} `)) ? line.slice(enhanced.length) : line);
  return { code, enhanced, text: oneLine(lines.map(strip).join(' ')) };
}

/** The reply as it appears on the wire (one line, without CRLF). */
export function formatReply(reply: SmtpReply): string {
  return [String(reply.code), reply.enhanced, reply.text].filter(Boolean).join(' ');
}

export function isPositive(reply: SmtpReply): boolean {
  return reply.code >= 200 && reply.code < 400;
}
