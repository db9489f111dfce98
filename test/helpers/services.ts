import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The real daemons the integration tests use, started by scripts/with-services.sh (npm test)
 * or by hand with scripts/services.sh start; ports and paths come from its environment.
 */
function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with "npm test" (scripts/with-services.sh starts the daemons)`);
  return value;
}

export const services = {
  get postfixPort(): number {
    return Number(required('SSP_POSTFIX_PORT'));
  },
  /** The test Postfix with its first-install defaults: XCLIENT for nobody, 127.0.0.0/8 may relay. */
  get postfixOpenPort(): number {
    return Number(required('SSP_POSTFIX_OPEN_PORT'));
  },
  /** The test Postfix with smtpd_timeout = 3s. */
  get postfixShortTimeoutPort(): number {
    return Number(required('SSP_POSTFIX_SHORT_TIMEOUT_PORT'));
  },
  /** The test Postfix with inet_protocols = all: it takes IPv6 addresses in XCLIENT. */
  get postfixIpv6Port(): number {
    return Number(required('SSP_POSTFIX_IPV6_PORT'));
  },
  /** The test Postfix without CHUNKING in its EHLO reply: the proxy sends messages with DATA. */
  get postfixNoChunkingPort(): number {
    return Number(required('SSP_POSTFIX_NO_CHUNKING_PORT'));
  },
  /** Postfix's before-queue filter layout: the smtpd clients connect to, with smtpd_proxy_filter. */
  get postfixBeforeQueuePort(): number {
    return Number(required('SSP_POSTFIX_BEFORE_QUEUE_PORT'));
  },
  /** Where that smtpd expects its filter: a proxy the before-queue tests start. */
  get proxyFilterPort(): number {
    return Number(required('SSP_PROXY_FILTER_PORT'));
  },
  /** The after-filter smtpd: the filter's upstream, XFORWARD for 127.0.0.0/8, no checks again. */
  get postfixAfterFilterPort(): number {
    return Number(required('SSP_POSTFIX_AFTER_FILTER_PORT'));
  },
  /**
   * The test Postfix's submission smtpd: STARTTLS required, AUTH through the private Dovecot
   * (users alice@ and bob@example.test, passwords alice-password and bob-password), XCLIENT
   * for the proxy, and only logged-in users' mail accepted.
   */
  get postfixSubmissionPort(): number {
    return Number(required('SSP_POSTFIX_SUBMISSION_PORT'));
  },
  /** The test Postfix's log (maillog_file). */
  get postfixLog(): string {
    return required('SSP_POSTFIX_LOG');
  },
  get sinkPort(): number {
    return Number(required('SSP_SINK_PORT'));
  },
  get clamdPort(): number {
    return Number(required('SSP_CLAMD_PORT'));
  },
  get clamdSocket(): string {
    return required('SSP_CLAMD_SOCKET');
  },
  get spamdPort(): number {
    return Number(required('SSP_SPAMD_PORT'));
  },
  /** The private Rspamd's normal worker (scripts/lib/rspamd.sh). */
  get rspamdPort(): number {
    return Number(required('SSP_RSPAMD_PORT'));
  },
  /** Redis, the rate limits' shared store. */
  get redisPort(): number {
    return Number(required('SSP_REDIS_PORT'));
  },
  /** HAProxy's SMTP frontend (scripts/templates/haproxy.cfg). */
  get haproxyPort(): number {
    return Number(required('SSP_HAPROXY_PORT'));
  },
  /** Where HAProxy expects its two backends: proxy instances the scale-out tests start. */
  get haproxyBackendPorts(): [number, number] {
    return [Number(required('SSP_HAPROXY_BACKEND1_PORT')), Number(required('SSP_HAPROXY_BACKEND2_PORT'))];
  },
  /** HAProxy's admin socket ("show stat"). */
  get haproxySocket(): string {
    return required('SSP_HAPROXY_SOCKET');
  },
  get maildir(): string {
    return required('SSP_POSTFIX_MAILDIR');
  },
  /** unbound, the DKIM tests' DNS: answers for dkim.test what test/helpers/dkim.ts publishes. */
  get unboundPort(): number {
    return Number(required('SSP_UNBOUND_PORT'));
  },
  /** Its config, which unbound-control reads to find the control socket. */
  get unboundConfig(): string {
    return path.join(required('SSP_RUN_DIR'), 'unbound', 'unbound.conf');
  },
  get tls(): { key: string; cert: string } {
    return { key: required('SSP_TLS_KEY'), cert: required('SSP_TLS_CERT') };
  },
};

/** A fresh address of a real mailbox: Postfix delivers user+tag to user (recipient_delimiter). */
export function taggedAddress(user: 'alice' | 'bob' | 'carol' = 'alice'): { address: string; tag: string } {
  const tag = `t${randomBytes(6).toString('hex')}`;
  return { address: `${user}+${tag}@example.test`, tag };
}

/** Delivered messages whose Delivered-To names the tag. Postfix's Maildir files use LF. */
export async function deliveredTo(user: string, tag: string): Promise<string[]> {
  const found: string[] = [];
  for (const sub of ['new', 'cur']) {
    const dir = path.join(services.maildir, 'example.test', user, sub);
    const files = await readdir(dir).catch(() => [] as string[]);
    for (const file of files) {
      const text = await readFile(path.join(dir, file), 'latin1').catch(() => '');
      if (text.includes(`+${tag}@example.test`)) found.push(text);
    }
  }
  return found;
}

/** Waits until `count` messages for the tag arrived (Postfix delivers asynchronously). */
export async function waitForDelivery(user: string, tag: string, count = 1, timeout = 20_000): Promise<string[]> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const messages = await deliveredTo(user, tag);
    if (messages.length >= count || Date.now() > deadline) return messages;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Asserting that nothing arrives needs a wait; Postfix's queue manager delivers within a
 * fraction of a second here, so this waits long enough for a delivery that should not happen.
 */
export async function nothingDelivered(user: string, tag: string, wait = 1500): Promise<boolean> {
  await new Promise((resolve) => setTimeout(resolve, wait));
  return (await deliveredTo(user, tag)).length === 0;
}

/** The body of a delivered message (after the first blank line), with LF line ends. */
export function bodyOf(delivered: string): string {
  const index = delivered.indexOf('\n\n');
  return index === -1 ? '' : delivered.slice(index + 2);
}

/** A header field of a delivered message (first occurrence, unfolded), or undefined. */
export function headerOf(delivered: string, name: string): string | undefined {
  const head = delivered.slice(0, delivered.indexOf('\n\n')).replace(/\n[ \t]+/g, ' ');
  const line = head.split('\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}
