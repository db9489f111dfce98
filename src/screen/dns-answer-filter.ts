import { isIPv4 } from 'node:net';
import { ipv4ToNumber, parseCidr } from './ip-address.js';

/** Which A answers of a DNS list count as a listing. */
export type AnswerFilter = (answer: string) => boolean;

type Range = { first: number; last: number };

const ERROR_ANSWERS = range('127.255.255.0', '127.255.255.255');
const LOOPBACK = range('127.0.0.0', '127.255.255.255');

/**
 * 127.255.255.0/24 is where Spamhaus (and others copying it) answer "your query was refused"
 * (public resolver, over quota, bad DQS key). Counting it as a listing rejects all mail.
 */
export function isErrorAnswer(answer: string): boolean {
  return isIPv4(answer) && inRange(ipv4ToNumber(answer), ERROR_ANSWERS);
}

/** One entry of a zone's `answers`: "127.0.0.2", "127.0.0.2-127.0.0.11" or "127.0.0.0/24"; a message when it is none. */
export function answerSpecError(spec: string): string | undefined {
  const parsed = parseSpec(spec);
  return typeof parsed === 'string' ? parsed : undefined;
}

/**
 * The filter of a zone: its listed answers, or without a list any 127.0.0.0/8 answer. Error
 * answers never count, even inside a configured range (127.0.0.0/8 would otherwise take them in).
 */
export function answerFilter(specs?: readonly string[]): AnswerFilter {
  const ranges = specs === undefined ? [LOOPBACK] : specs.map((spec) => parseSpec(spec) as Range);
  return (answer) => {
    if (!isIPv4(answer) || isErrorAnswer(answer)) return false;
    const value = ipv4ToNumber(answer);
    return ranges.some((candidate) => inRange(value, candidate));
  };
}

function parseSpec(spec: string): Range | string {
  const dash = /^\s*([\d.]+)\s*-\s*([\d.]+)\s*$/.exec(spec);
  if (dash) {
    if (!isIPv4(dash[1]!) || !isIPv4(dash[2]!)) return `not an IPv4 range: ${JSON.stringify(spec)}`;
    const found = range(dash[1]!, dash[2]!);
    return found.first <= found.last ? found : `range ends before it starts: ${JSON.stringify(spec)}`;
  }
  const cidr = parseCidr(spec);
  if (typeof cidr === 'string') return `${cidr}; DNS list answers are IPv4 addresses, ranges (127.0.0.2-127.0.0.11) or CIDR (127.0.0.0/24)`;
  if (cidr.family !== 'ipv4') return `DNS list answers are IPv4: ${JSON.stringify(spec)}`;
  const first = ipv4ToNumber(cidr.address);
  return { first, last: first + 2 ** (32 - cidr.prefix) - 1 };
}

function range(first: string, last: string): Range {
  return { first: ipv4ToNumber(first), last: ipv4ToNumber(last) };
}

function inRange(value: number, { first, last }: Range): boolean {
  return value >= first && value <= last;
}
