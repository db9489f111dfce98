import { readFileSync } from 'node:fs';
import type { SMTPServerOptions } from 'smtp-server';
import { z } from 'zod';
import { authSchema } from '../auth/config.js';
import { replies } from '../smtp/replies.js';
import { replyText } from './reply-error.js';

const port = z.number().int().min(1).max(65535);

/**
 * The keys a listener has besides where it listens (src/config/schema.ts): its role, its TLS
 * and, for submission, how clients log in and where their mail goes.
 */
export const listenerRoleKeys = {
  /** inbound: mail from the world, no AUTH; submission: our users, AUTH required before MAIL. */
  role: z.enum(['inbound', 'submission']).default('inbound'),
  /**
   * starttls: offered (and required before AUTH); implicit: TLS from the first byte (port 465);
   * off: none. Default: starttls when the top-level `tls` has a key and certificate, else off.
   */
  tls: z.enum(['starttls', 'implicit', 'off']).optional(),
  auth: authSchema.optional(),
  /**
   * Where this listener's mail goes, over the top-level `upstream`'s keys: a submission
   * listener's is usually the MTA's submission service (Postfix's port 587).
   */
  upstream: z
    .strictObject({
      host: z.string().min(1),
      port,
      xclient: z.boolean(),
      starttls: z.enum(['off', 'opportunistic', 'required']),
      tlsVerify: z.boolean(),
      tlsCa: z.string().min(1),
    })
    .partial()
    .optional(),
};

/**
 * `listen:` one listener, or a list of them. Not a z.union: a union that fails says only
 * "Invalid input", where the admin needs the key (listen.proxyProtocol.trusted, listen[1].port).
 */
export function listenEntries<T extends z.ZodType>(listener: T) {
  const list = z.array(listener).min(1);
  return z.any().transform((value: unknown, ctx): z.output<T> | z.output<T>[] => {
    const parsed = Array.isArray(value) ? list.safeParse(value) : listener.safeParse(value);
    if (parsed.success) return parsed.data as z.output<T> | z.output<T>[];
    for (const issue of parsed.error.issues) ctx.addIssue({ ...issue } as Parameters<typeof ctx.addIssue>[0]);
    return z.NEVER;
  }).prefault({});
}

interface ListenerShape {
  readonly host: string;
  readonly port: number;
  readonly role: 'inbound' | 'submission';
  readonly tls?: 'starttls' | 'implicit' | 'off' | undefined;
  readonly auth?: { readonly type: string } | undefined;
  readonly upstream?: { readonly starttls?: string | undefined } | undefined;
  readonly proxyProtocol?: unknown;
}

/** The listeners as a list, whichever way they were written. */
export function listenerList<T>(listen: T | readonly T[]): readonly T[] {
  return Array.isArray(listen) ? listen : [listen as T];
}

/** The TLS a listener offers: its own `tls`, else STARTTLS when there is a certificate. */
export function listenerTls(listener: { readonly tls?: 'starttls' | 'implicit' | 'off' | undefined }, hasCertificate: boolean) {
  return listener.tls ?? (hasCertificate ? 'starttls' : 'off');
}

/**
 * What a list of listeners must satisfy together with the rest of the config: a submission
 * listener has TLS and a way to log in (no AUTH is offered without TLS, so one without TLS
 * could never take mail), an inbound listener offers no AUTH, and no two share a port.
 */
export function checkListeners(
  config: { readonly listen: ListenerShape | readonly ListenerShape[]; readonly tls?: unknown },
  ctx: z.RefinementCtx,
): void {
  const listeners = listenerList(config.listen);
  const path = (index: number, key: string) => (Array.isArray(config.listen) ? ['listen', index, key] : ['listen', key]);
  const seen = new Set<string>();
  listeners.forEach((listener, index) => {
    const tls = listenerTls(listener, config.tls !== undefined);
    if (tls !== 'off' && !config.tls) {
      ctx.addIssue({ code: 'custom', path: path(index, 'tls'), message: `tls: ${tls} needs the top-level tls key and cert` });
    }
    if (tls === 'implicit' && listener.proxyProtocol) {
      // The PROXY header arrives before the TLS handshake, and src/server/proxy-accept.ts hands
      // the socket to smtp-server after it, past smtp-server's own handshake step.
      ctx.addIssue({ code: 'custom', path: path(index, 'tls'), message: 'tls: implicit cannot be combined with proxyProtocol; use starttls' });
    }
    if (listener.role === 'submission') {
      if (!listener.auth) ctx.addIssue({ code: 'custom', path: path(index, 'auth'), message: 'a submission listener needs auth (type file or upstream)' });
      if (tls === 'off') ctx.addIssue({ code: 'custom', path: path(index, 'tls'), message: 'a submission listener needs TLS (starttls or implicit): AUTH is never offered without it' });
    } else if (listener.auth) {
      ctx.addIssue({ code: 'custom', path: path(index, 'auth'), message: 'only a submission listener takes AUTH' });
    }
    if (listener.auth?.type === 'upstream' && listener.upstream?.starttls && listener.upstream.starttls !== 'required') {
      ctx.addIssue({ code: 'custom', path: path(index, 'upstream'), message: 'auth type upstream relays passwords: upstream.starttls must be required' });
    }
    const where = `${listener.host}:${listener.port}`;
    if (listener.port !== 0 && seen.has(where)) ctx.addIssue({ code: 'custom', path: path(index, 'port'), message: `${where} is used by another listener` });
    seen.add(where);
  });
}

/**
 * smtp-server's options for a listener's TLS and AUTH. Inbound: no AUTH ever. Submission: AUTH
 * PLAIN and LOGIN, required before MAIL (smtp-server answers 530 5.7.0 itself), offered only
 * once the connection is encrypted (with STARTTLS: after it; see connection-patches.ts).
 */
export function securityOptions(
  listener: { readonly role: 'inbound' | 'submission'; readonly tls?: 'starttls' | 'implicit' | 'off' | undefined },
  files: { readonly key: string; readonly cert: string } | undefined,
): SMTPServerOptions {
  const tls = listenerTls(listener, files !== undefined);
  const disabled = [...(listener.role === 'submission' ? [] : ['AUTH']), ...(tls === 'starttls' ? [] : ['STARTTLS'])];
  return {
    secure: tls === 'implicit',
    hideSTARTTLS: tls !== 'starttls',
    disabledCommands: disabled,
    ...(tls !== 'off' && files ? { key: readFileSync(files.key), cert: readFileSync(files.cert) } : {}),
    ...(listener.role === 'submission'
      ? { authMethods: ['PLAIN', 'LOGIN'], authOptional: false, allowInsecureAuth: false, authRequiredMessage: replyText(replies.authRequired) }
      : {}),
  };
}
