/**
 * The adapter conformance kit: the same checks for every scanner adapter, so a new one proves
 * itself the way the built-in ones do. A test file gives a harness (how to reach a working
 * engine, a dead one and a hung one, and two sample messages) and calls
 * describeAdapterConformance(harness). See test/conformance/README.md.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import type { ScannerConfig } from '../../src/config/load.js';
import type { ScanResult } from '../../src/scan/scan-result.js';
import type { ScanSession } from '../../src/scan/scan-session.js';
import type { ScannerFactory } from '../../src/scan/registry.js';
import type { Scanner } from '../../src/scan/scanner.js';
import { ScannerUnit } from '../../src/scan/scanner-unit.js';
import type { Verdict } from '../../src/scan/verdict.js';
import type { SpooledMessage } from '../../src/spool/message.js';
import { freePort, memoryMessage, missingSocketPath, readAll, stalledMessage, startHungServer } from './engines.js';
import { scanSession } from '../helpers/scan-session.js';

type RawOptions = Record<string, unknown>;

/** What the positive sample must give: a virus, a banned part, or a spam score (GTUBE: 1000). */
export type PositiveExpectation =
  | { readonly kind: 'infected'; readonly signature?: RegExp }
  | { readonly kind: 'banned'; readonly reason?: RegExp }
  | { readonly kind: 'spam'; readonly minScore?: number };

export interface AdapterHarness<Options extends RawOptions = RawOptions> {
  /** The suite's title; defaults to the factory's type. */
  readonly title?: string;
  readonly factory: ScannerFactory<Options>;
  /** A one-line reason to skip the whole suite (say, the engine's address is not in the environment). */
  readonly skip?: string | undefined;
  /** The adapter's own options (as in the YAML, common keys excluded) for a working engine. */
  readonly working: () => RawOptions;
  /**
   * Options pointing at an engine that is not there, by label: `free.port` has nothing
   * listening, `free.missingSocket` is a socket path that does not exist. Omit for an adapter
   * that needs no engine.
   */
  readonly unavailable?: (free: { readonly host: string; readonly port: number; readonly missingSocket: string }) => Record<string, RawOptions>;
  /**
   * Options pointing at the kit's hung engine (accepts, reads, never answers): on a loopback
   * TCP port, or on a unix socket `engine.path` with `hungOn: 'unix'`. Omit when there is no engine.
   */
  readonly hung?: (engine: { readonly host: string; readonly port: number; readonly path?: string }) => RawOptions;
  readonly hungOn?: 'tcp' | 'unix';
  /** Sample messages with CRLF line ends. The positive one must end with a line break. */
  readonly samples: { readonly clean: () => Buffer; readonly positive: () => Buffer };
  readonly positive: PositiveExpectation;
  /** The verdict kind an empty (0-byte) message gets; part of the adapter's documented behaviour. */
  readonly empty: Verdict['kind'];
  /** Spam engines: a clean sample must score below this (default 5). */
  readonly hamBelow?: number;
}

/** Slack allowed on top of a timer, for a loaded machine. */
export const MARGIN_MS = 400;
/** How long after its signal aborts an adapter may keep its socket or reader. */
export const RELEASE_MS = 1000;
/** Generous bound for one scan by a real engine. */
const SCAN_MS = 20_000;

const logger = pino({ enabled: false });

/**
 * The session each scan is given (the contract's third argument), frozen: the session is read-only
 * for scanners, and an adapter that writes to it fails here (modules run in strict mode).
 */
function session(): ScanSession {
  const given = scanSession();
  return Object.freeze({ ...given, rcptTo: Object.freeze([...given.rcptTo]) });
}

/** A ScannerConfig built by hand, as src/config would build it, with the kit's defaults. */
export function unitConfig(factory: ScannerFactory, options: RawOptions, overrides: Partial<ScannerConfig> = {}): ScannerConfig {
  return {
    name: factory.type,
    type: factory.type,
    category: factory.category ?? 'content',
    concurrency: 1,
    maxQueue: 10,
    timeout: 500,
    onError: 'tempfail',
    mode: 'enforce',
    maxSize: 0,
    onOversize: 'skip',
    rejectScore: 10,
    tagScore: 5,
    options,
    ...overrides,
  };
}

/** Rejects when `promise` has not settled after `ms`: every wait in the kit is bounded. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Settles with the outcome either way, so a rejection is an observable value. */
function outcome(promise: Promise<Verdict>): Promise<{ verdict?: Verdict; error?: unknown }> {
  return promise.then(
    (verdict) => ({ verdict }),
    (error: unknown) => ({ error }),
  );
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

/** A scanner that records each message it is given, then passes it on. */
function spy(scanner: Scanner): { scanner: Scanner; seen: SpooledMessage[] } {
  const seen: SpooledMessage[] = [];
  return {
    seen,
    scanner: {
      name: scanner.name,
      type: scanner.type,
      scan: (message, signal, session) => {
        seen.push(message);
        return scanner.scan(message, signal, session);
      },
    },
  };
}

/** `lines` lines of exactly 50 bytes (CRLF included), appended to the positive sample for the truncate check. */
function padding(lines: number): Buffer {
  return Buffer.from(
    Array.from({ length: lines }, (_, i) => `padding line ${String(i).padStart(5, '0')} of the oversize sample`.padEnd(48, '.') + '\r\n').join(''),
  );
}

export function describeAdapterConformance<Options extends RawOptions>(harness: AdapterHarness<Options>): void {
  const { factory } = harness;
  const title = harness.title ?? factory.type;
  const spamEngine = harness.positive.kind === 'spam';
  const hamBelow = harness.hamBelow ?? 5;

  const create = (raw: RawOptions, name = factory.type): Scanner =>
    factory.create(factory.options.parse(raw) as Options, { name, logger });
  const unit = (raw: RawOptions, overrides: Partial<ScannerConfig>, wrap: (s: Scanner) => Scanner = (s) => s) =>
    new ScannerUnit(wrap(create(raw)), unitConfig(factory as unknown as ScannerFactory, raw, overrides));
  const scanOnce = (scanner: Scanner, message: SpooledMessage, what: string) =>
    within(outcome(scanner.scan(message, AbortSignal.timeout(SCAN_MS), session())), SCAN_MS + 5000, what);

  function assertClean(verdict: Verdict | ScanResult['verdict'] | undefined, what: string): void {
    if (spamEngine && verdict?.kind === 'scored') {
      assert.ok(verdict.score < hamBelow, `${what}: score ${verdict.score} should be below ${hamBelow}`);
      return;
    }
    assert.equal(verdict?.kind, 'clean', `${what}: ${JSON.stringify(verdict)}`);
  }

  function assertPositive(verdict: Verdict | ScanResult['verdict'] | undefined, what: string): void {
    const expected = harness.positive;
    const shown = `${what}: ${JSON.stringify(verdict)}`;
    switch (expected.kind) {
      case 'infected':
        assert.equal(verdict?.kind, 'infected', shown);
        assert.ok(verdict.kind === 'infected' && verdict.signature.length > 0, shown);
        if (expected.signature) assert.match(verdict.signature, expected.signature);
        return;
      case 'banned':
        assert.equal(verdict?.kind, 'banned', shown);
        assert.ok(verdict.kind === 'banned' && verdict.reason.length > 0 && verdict.items.length > 0, shown);
        if (expected.reason) assert.match(verdict.reason, expected.reason);
        return;
      case 'spam':
        assert.equal(verdict?.kind, 'scored', shown);
        assert.ok(verdict.kind === 'scored' && verdict.score >= (expected.minScore ?? 1000), shown);
        return;
    }
  }

  function assertError(verdict: Verdict | ScanResult['verdict'] | undefined, kind: string, what: string): void {
    assert.equal(verdict?.kind, 'error', `${what}: ${JSON.stringify(verdict)}`);
    assert.ok(verdict.kind === 'error');
    assert.equal(verdict.error, kind, `${what}: ${JSON.stringify(verdict)}`);
    assert.equal(typeof verdict.detail, 'string');
  }

  describe(`${title}: adapter conformance`, { skip: harness.skip }, () => {
    test('create() gives a scanner named by its context, of the factory\'s type', () => {
      const scanner = create(harness.working(), 'instance-7');
      assert.equal(scanner.name, 'instance-7');
      assert.equal(scanner.type, factory.type);
      assert.equal(typeof scanner.scan, 'function');
    });

    test(spamEngine ? `clean sample: scored below ${hamBelow}` : 'clean sample: clean', { timeout: 60_000 }, async () => {
      const { verdict, error } = await scanOnce(create(harness.working()), memoryMessage(harness.samples.clean()), 'clean scan');
      assert.equal(error, undefined, 'scan() must resolve');
      assertClean(verdict, 'clean sample');
    });

    test(`positive sample: ${harness.positive.kind}`, { timeout: 60_000 }, async (t) => {
      const { verdict, error } = await scanOnce(create(harness.working()), memoryMessage(harness.samples.positive()), 'positive scan');
      assert.equal(error, undefined, 'scan() must resolve');
      assertPositive(verdict, 'positive sample');
      t.diagnostic(`positive sample → ${JSON.stringify(verdict)}`);
    });

    const freeEndpoint = async () => ({ host: '127.0.0.1', port: await freePort(), missingSocket: missingSocketPath() });
    if (harness.unavailable) {
      const labels = Object.keys(harness.unavailable({ host: '127.0.0.1', port: 1, missingSocket: '/nonexistent' }));
      for (const label of labels) {
        test(`unavailable engine (${label}): resolves with error 'unavailable'`, { timeout: 30_000 }, async () => {
          const raw = harness.unavailable!(await freeEndpoint())[label]!;
          const started = performance.now();
          const { verdict, error } = await within(outcome(create(raw).scan(memoryMessage(harness.samples.clean()), AbortSignal.timeout(10_000), session())), 15_000, 'scan of an unavailable engine');
          assert.equal(error, undefined, `scan() must resolve, not throw: ${String(error)}`);
          assertError(verdict, 'unavailable', 'unavailable engine');
          assert.ok(performance.now() - started < 5000, 'a refused connection is known at once');
        });
      }
    } else {
      test('unavailable engine', { skip: 'the harness names no unavailable engine (an in-process adapter has none)' }, () => {});
    }

    if (harness.hung) {
      test('hung engine, through a ScannerUnit with timeout 500 ms: error \'timeout\' in time, socket released', { timeout: 30_000 }, async () => {
        const engine = await startHungServer(harness.hungOn === 'unix' ? missingSocketPath() : undefined);
        try {
          const scanning = unit(harness.hung!(engine), { timeout: 500 });
          const started = performance.now();
          const result = await within(scanning.scan(memoryMessage(harness.samples.clean()), new AbortController().signal, session()), 5000, 'unit scan');
          const settledAt = performance.now();
          assertError(result.verdict, 'timeout', 'hung engine');
          const elapsed = settledAt - started;
          assert.ok(elapsed >= 480 && elapsed <= 500 + MARGIN_MS, `timeout verdict after ${Math.round(elapsed)} ms, expected ~500`);
          const connection = await engine.nextConnection(100);
          const closedAt = await connection.waitClosed(RELEASE_MS);
          assert.ok(closedAt !== undefined, `the adapter still holds its socket ${RELEASE_MS} ms after the timeout`);
        } finally {
          await engine.close();
        }
      });

      test('hung engine, aborted after 100 ms: settles promptly and closes its socket', { timeout: 30_000 }, async () => {
        const engine = await startHungServer(harness.hungOn === 'unix' ? missingSocketPath() : undefined);
        try {
          const scanner = create(harness.hung!(engine));
          const controller = new AbortController();
          let abortedAt = 0;
          setTimeout(() => {
            abortedAt = performance.now();
            controller.abort(new Error('conformance kit abort'));
          }, 100);
          await within(outcome(scanner.scan(memoryMessage(harness.samples.clean()), controller.signal, session())), 5000, 'aborted scan');
          const late = performance.now() - abortedAt;
          assert.ok(abortedAt > 0, 'settled before the abort: the hung engine answered nothing');
          assert.ok(late <= MARGIN_MS, `settled ${Math.round(late)} ms after the abort`);
          const connection = await engine.nextConnection(100);
          const closedAt = await connection.waitClosed(RELEASE_MS);
          assert.ok(closedAt !== undefined, `the adapter still holds its socket ${RELEASE_MS} ms after the abort`);
        } finally {
          await engine.close();
        }
      });
    } else {
      test('stalled message, through a ScannerUnit with timeout 500 ms: error \'timeout\' in time, reader released', { timeout: 30_000 }, async () => {
        const message = stalledMessage(harness.samples.clean(), 16);
        const scanning = unit(harness.working(), { timeout: 500 });
        const started = performance.now();
        const result = await within(scanning.scan(message, new AbortController().signal, session()), 5000, 'unit scan');
        const elapsed = performance.now() - started;
        assertError(result.verdict, 'timeout', 'stalled message');
        assert.ok(elapsed >= 480 && elapsed <= 500 + MARGIN_MS, `timeout verdict after ${Math.round(elapsed)} ms, expected ~500`);
        assert.ok(message.streams.length > 0, 'the adapter never read the message');
        assert.ok(await until(() => message.streams.every((s) => s.destroyed), RELEASE_MS), 'a reader of the message was left open');
      });
    }

    test('stalled message, aborted after 100 ms: settles promptly and destroys its reader', { timeout: 30_000 }, async () => {
      const message = stalledMessage(harness.samples.clean(), 16);
      const controller = new AbortController();
      let abortedAt = 0;
      setTimeout(() => {
        abortedAt = performance.now();
        controller.abort(new Error('conformance kit abort'));
      }, 100);
      await within(outcome(create(harness.working()).scan(message, controller.signal, session())), 5000, 'aborted scan');
      const late = performance.now() - abortedAt;
      assert.ok(abortedAt > 0, 'settled before the abort, with only 16 bytes of the message read');
      assert.ok(late <= MARGIN_MS, `settled ${Math.round(late)} ms after the abort`);
      assert.ok(message.streams.length > 0, 'the adapter never read the message');
      assert.ok(await until(() => message.streams.every((s) => s.destroyed), RELEASE_MS), 'a reader of the message was left open');
    });

    test(`empty message (0 bytes): resolves with '${harness.empty}'`, { timeout: 60_000 }, async (t) => {
      const { verdict, error } = await scanOnce(create(harness.working()), memoryMessage(Buffer.alloc(0)), 'empty scan');
      assert.equal(error, undefined, `scan() must resolve, not throw: ${String(error)}`);
      assert.equal(verdict?.kind, harness.empty, JSON.stringify(verdict));
      t.diagnostic(`empty message → ${JSON.stringify(verdict)}`);
    });

    describe('oversize (through a ScannerUnit, maxSize below the message size)', () => {
      test("onOversize skip: 'skipped', the adapter is not called", async () => {
        const message = memoryMessage(harness.samples.positive());
        let seen: SpooledMessage[] = [];
        const scanning = unit(harness.working(), { maxSize: message.size - 1, onOversize: 'skip' }, (s) => {
          const watched = spy(s);
          seen = watched.seen;
          return watched.scanner;
        });
        const result = await within(scanning.scan(message, new AbortController().signal, session()), 5000, 'unit scan');
        assert.equal(result.verdict.kind, 'skipped', JSON.stringify(result.verdict));
        assert.equal(seen.length, 0);
      });

      test("onOversize tempfail: error 'too-large', the adapter is not called", async () => {
        const message = memoryMessage(harness.samples.positive());
        let seen: SpooledMessage[] = [];
        const scanning = unit(harness.working(), { maxSize: message.size - 1, onOversize: 'tempfail' }, (s) => {
          const watched = spy(s);
          seen = watched.seen;
          return watched.scanner;
        });
        const result = await within(scanning.scan(message, new AbortController().signal, session()), 5000, 'unit scan');
        assertError(result.verdict, 'too-large', 'oversize with tempfail');
        assert.equal(seen.length, 0);
      });

      test('onOversize truncate: the adapter sees a prefix cut at a line boundary and judges it as usual', { timeout: 60_000 }, async (t) => {
        const positive = harness.samples.positive();
        assert.equal(positive.at(-1), 0x0a, 'the harness\'s positive sample must end with a line break');
        const lineLength = 50;
        const bytes = Buffer.concat([positive, padding(100)]);
        // 25 whole padding lines fit, and the limit falls in the middle of the 26th.
        const maxSize = positive.length + 25 * lineLength + 17;
        let seen: SpooledMessage[] = [];
        const scanning = unit(harness.working(), { maxSize, onOversize: 'truncate', timeout: SCAN_MS }, (s) => {
          const watched = spy(s);
          seen = watched.seen;
          return watched.scanner;
        });
        const result = await within(scanning.scan(memoryMessage(bytes), new AbortController().signal, session()), SCAN_MS + 5000, 'unit scan');
        assert.equal(seen.length, 1, 'the adapter is called once');
        const view = seen[0]!;
        const viewed = await readAll(view);
        assert.equal(viewed.length, view.size, 'the view gives as many bytes as its size says');
        assert.ok(view.size <= maxSize, `view of ${view.size} bytes over maxSize ${maxSize}`);
        assert.equal(view.size, positive.length + 25 * lineLength, 'cut after the last whole line');
        assert.ok(viewed.equals(bytes.subarray(0, view.size)), 'the view is a prefix of the message');
        assert.equal(result.scannedBytes, view.size);
        assert.equal(result.messageBytes, bytes.length);
        assertPositive(result.verdict, 'truncated positive sample');
        t.diagnostic(`truncated to ${view.size} of ${bytes.length} bytes → ${JSON.stringify(result.verdict)}`);
      });
    });
  });
}
