import type { Logger } from 'pino';
import { events } from '../observe/events.js';
import type { SmtpReply } from '../smtp/reply.js';
import { Tarpit, type TarpitSettings } from './tarpit.js';

/**
 * What screening needs of its parts, so each can be swapped (and faked in unit tests): the
 * access list, the DNS lists, the rate limits.
 */
export interface AccessCheck {
  check(address: string): 'allow' | 'deny' | undefined;
}

export interface DnsListCheck {
  check(address: string, signal?: AbortSignal): Promise<{
    readonly score: number;
    readonly listed: boolean;
    readonly allowlisted: boolean;
    readonly hits: readonly { readonly zone: string; readonly name: string; readonly weight: number }[];
  }>;
}

export interface RateLimitCheck {
  connection(address: string): Promise<SmtpReply | undefined>;
  message(address: string): Promise<SmtpReply | undefined>;
  recipient(address: string, sender: string): Promise<SmtpReply | undefined>;
}

/** drop: refuse at connect (521); enforce: at each RCPT (550), so sender and recipients are logged; ignore: log only. */
export type ScreenAction = 'drop' | 'enforce' | 'ignore';

export interface ScreeningParts {
  readonly action: ScreenAction;
  readonly access: AccessCheck;
  readonly dnsLists: DnsListCheck;
  readonly rateLimits: RateLimitCheck;
  readonly tarpit: TarpitSettings;
  /** The replies for a refused client, by why and when (built in src/smtp/replies.ts). */
  readonly replies: {
    listed(address: string, listedBy: string, when: 'connect' | 'rcpt'): SmtpReply;
    denied(address: string, when: 'connect' | 'rcpt'): SmtpReply;
  };
  /** limits.idleTimeout: no tarpit pause may reach it. */
  readonly idleTimeout: number;
}

/** Why a client was refused or let through unchecked, for its session's log lines. */
export interface ScreenFacts {
  readonly verdict: 'unscreened' | 'allowlisted' | 'pass' | 'suspicious' | 'listed' | 'denied';
  readonly score?: number;
  readonly listedBy?: readonly string[];
}

/**
 * Screening of one client connection, decided before the banner: a value the session keeps
 * and asks at connect, MAIL and RCPT. It never opens an upstream session or calls a scanner.
 */
export class ClientScreen {
  private readonly tarpit: Tarpit;

  constructor(
    private readonly parts: ScreeningParts,
    private readonly address: string,
    readonly facts: ScreenFacts,
    /** The refusal for a listed or denied client, and when it applies. */
    private readonly refusal: { connect?: SmtpReply; rcpt?: SmtpReply },
  ) {
    const suspicious = facts.verdict === 'suspicious';
    this.tarpit = new Tarpit(parts.tarpit, suspicious, parts.idleTimeout);
  }

  /** A connection of a proxy without screening: nothing is checked, nothing delayed. */
  static unscreened(): ClientScreen {
    return new ClientScreen(UNSCREENED_PARTS, '', { verdict: 'unscreened' }, {});
  }

  private get exempt(): boolean {
    return this.facts.verdict === 'allowlisted' || this.facts.verdict === 'unscreened';
  }

  /**
   * Every RCPT of this client will be refused (a listing under `enforce`): its MAIL is answered
   * here, so no upstream session is opened for it.
   */
  get refusesRecipients(): boolean {
    return this.refusal.rcpt !== undefined;
  }

  /** The reply that ends the connection before the banner, if any. */
  get atConnect(): SmtpReply | undefined {
    return this.refusal.connect;
  }

  /**
   * A refusal for MAIL (too much mail from this client), or undefined to go on. A refusal at
   * connect reaches MAIL only for a client named by XFORWARD (src/session/forwarded-client.ts),
   * screened when its peer had long been greeted: it is refused here instead.
   */
  async mail(): Promise<SmtpReply | undefined> {
    if (this.refusal.connect) return this.refusal.connect;
    if (this.exempt) return undefined;
    return this.parts.rateLimits.message(this.address);
  }

  /** A refusal for RCPT (listed under enforce, too many recipients), or undefined to go on. */
  async rcpt(sender: string): Promise<SmtpReply | undefined> {
    if (this.refusal.rcpt) return this.refusal.rcpt;
    if (this.exempt) return undefined;
    return this.parts.rateLimits.recipient(this.address, sender);
  }

  /** Waits the tarpit's pause before a reply with `code`, then counts it. */
  async beforeReply(code: number): Promise<void> {
    if (this.exempt) return;
    const pause = this.tarpit.pause;
    this.tarpit.note(code);
    if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
  }
}

const UNSCREENED_PARTS: ScreeningParts = {
  action: 'ignore',
  access: { check: () => undefined },
  dnsLists: { check: async () => ({ score: 0, listed: false, allowlisted: false, hits: [] }) },
  rateLimits: { connection: async () => undefined, message: async () => undefined, recipient: async () => undefined },
  tarpit: { delay: 0, afterErrors: 1, step: 0, max: 0 },
  replies: {
    listed: () => {
      throw new Error('unscreened connections are never refused');
    },
    denied: () => {
      throw new Error('unscreened connections are never refused');
    },
  },
  idleTimeout: 0,
};

/**
 * The screening stage of one proxy process: access list first (allow skips everything, deny
 * refuses), then the connection rate limit and the DNS lists in parallel. DNS trouble fails
 * open (the parts log it); so does a rate-limit store that fails.
 */
export class Screening {
  constructor(
    private readonly parts: ScreeningParts,
    private readonly logger: Logger,
  ) {}

  async connect(address: string, signal?: AbortSignal): Promise<ClientScreen> {
    const screen = await this.screen(address, signal);
    events.screen.publish({ verdict: screen.facts.verdict, lists: screen.facts.listedBy ?? [] });
    return screen;
  }

  private async screen(address: string, signal?: AbortSignal): Promise<ClientScreen> {
    const { parts } = this;
    const access = parts.access.check(address);
    if (access === 'allow') return new ClientScreen(parts, address, { verdict: 'allowlisted' }, {});
    if (access === 'deny') return this.refused(address, { verdict: 'denied' }, (when) => parts.replies.denied(address, when));
    const [lists, tooMany] = await Promise.all([parts.dnsLists.check(address, signal), parts.rateLimits.connection(address)]);
    const listedBy = lists.hits.filter((hit) => hit.weight > 0).sort((a, b) => b.weight - a.weight).map((hit) => hit.name);
    if (lists.listed) {
      const name = listedBy[0] ?? 'a DNS list';
      return this.refused(address, { verdict: 'listed', score: lists.score, listedBy }, (when) => parts.replies.listed(address, name, when));
    }
    if (lists.allowlisted) return new ClientScreen(parts, address, { verdict: 'allowlisted', score: lists.score }, {});
    const facts: ScreenFacts = { verdict: lists.score > 0 ? 'suspicious' : 'pass', score: lists.score, ...(listedBy.length ? { listedBy } : {}) };
    return new ClientScreen(parts, address, facts, tooMany ? { connect: tooMany } : {});
  }

  /** A listed or denied client: refused at connect (drop), at each RCPT (enforce), or only logged (ignore). */
  private refused(address: string, facts: ScreenFacts, reply: (when: 'connect' | 'rcpt') => SmtpReply): ClientScreen {
    const { action } = this.parts;
    this.logger.info(
      { client: address, ...facts, action },
      action === 'ignore' ? 'client would be refused (screening.action: ignore)' : 'client refused by screening',
    );
    if (action === 'ignore') return new ClientScreen(this.parts, address, facts, {});
    return new ClientScreen(this.parts, address, facts, action === 'drop' ? { connect: reply('connect') } : { rcpt: reply('rcpt') });
  }
}
