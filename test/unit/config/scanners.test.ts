import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { z } from 'zod';
import { attachmentsScanner } from '../../../scanners/attachments/index.js';
import { clamavScanner } from '../../../scanners/clamav/index.js';
import { spamassassinScanner } from '../../../scanners/spamassassin/index.js';
import { parseConfig, scannerDefaults } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/errors.js';
import type { ScannerFactory } from '../../../src/scan/registry.js';
import { clean } from '../../../src/scan/verdict.js';

function fakeFactory(type: string, options: z.ZodObject<z.ZodRawShape>, defaults?: ScannerFactory['defaults']): ScannerFactory {
  return {
    type,
    options,
    ...(defaults ? { defaults } : {}),
    create: (_options, context) => ({ name: context.name, type, scan: async () => clean }),
  };
}

const echo = fakeFactory('echo', z.strictObject({ host: z.string().default('127.0.0.1'), port: z.number().int().optional() }));
const lazy = fakeFactory('lazy', z.strictObject({}), { maxSize: 1024, onOversize: 'truncate', timeout: 5000 });
const factories = new Map([
  ['echo', echo],
  ['lazy', lazy],
]);

const scannersOf = (entries: unknown[]) => parseConfig({ scanners: entries }, factories).scanners;

function rejects(entries: unknown[], pattern: RegExp, map: ReadonlyMap<string, ScannerFactory> = factories): void {
  assert.throws(
    () => parseConfig({ scanners: entries }, map),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `not a ConfigError: ${String(error)}`);
      assert.match(error.message, pattern);
      return true;
    },
  );
}

describe('scanner entries', () => {
  test('common settings default; the name defaults to the type; own options are validated with defaults', () => {
    const [scanner] = scannersOf([{ type: 'echo', port: 7 }]);
    assert.ok(scanner);
    assert.equal(scanner.name, 'echo');
    assert.equal(scanner.type, 'echo');
    assert.equal(scanner.concurrency, scannerDefaults.concurrency);
    assert.equal(scanner.maxQueue, 100);
    assert.equal(scanner.timeout, 30_000);
    assert.equal(scanner.onError, 'tempfail');
    assert.equal(scanner.maxSize, 0);
    assert.equal(scanner.onOversize, 'skip');
    assert.equal(scanner.rejectScore, 10);
    assert.equal(scanner.tagScore, 5);
    // Only the type's own keys end up in options: the common ones are taken out.
    assert.deepEqual(scanner.options, { host: '127.0.0.1', port: 7 });
  });

  test('common settings given in the entry are read with their units', () => {
    const [scanner] = scannersOf([{ type: 'echo', name: 'av-1', timeout: '2s', maxSize: '1MiB', concurrency: 2, onError: 'accept' }]);
    assert.equal(scanner!.name, 'av-1');
    assert.equal(scanner!.timeout, 2000);
    assert.equal(scanner!.maxSize, 1_048_576);
    assert.equal(scanner!.concurrency, 2);
    assert.equal(scanner!.onError, 'accept');
  });

  test("a type's own defaults beat the common ones, and the entry beats both", () => {
    const [fromType, fromEntry] = scannersOf([{ type: 'lazy' }, { type: 'lazy', name: 'lazy2', maxSize: 10, timeout: 1 }]);
    assert.equal(fromType!.maxSize, 1024);
    assert.equal(fromType!.onOversize, 'truncate');
    assert.equal(fromType!.timeout, 5000);
    assert.equal(fromType!.concurrency, scannerDefaults.concurrency);
    assert.equal(fromEntry!.maxSize, 10);
    assert.equal(fromEntry!.timeout, 1000);
  });

  test('an unknown type is an error that lists the known types', () => {
    rejects([{ type: 'clamv' }], /scanners\[0\]\.type: unknown scanner type "clamv" \(known: echo, lazy\)/);
  });

  test('an unknown key in an entry is named with its index', () => {
    rejects([{ type: 'echo' }, { type: 'lazy', bogus: 1 }], /^scanners\[1\]\.bogus: unknown key$/m);
  });

  test('a wrong type, in a common key or an own key, is named', () => {
    rejects([{ type: 'echo', concurrency: 'two' }], /^scanners\[0\]\.concurrency: /m);
    rejects([{ type: 'echo', port: 'x' }], /^scanners\[0\]\.port: /m);
    rejects([{ type: 'echo', onError: 'continue' }], /^scanners\[0\]\.onError: /m);
    rejects([{ type: 'echo', name: 'has space' }], /^scanners\[0\]\.name: /m);
  });

  test('an entry without a type is caught before any factory is asked', () => {
    rejects([{ name: 'x' }], /^scanners\[0\]\.type: /m);
  });

  test('two scanners with the same name are an error; different names for one type are fine', () => {
    rejects([{ type: 'echo' }, { type: 'echo' }], /scanners\[1\]\.name: "echo" is used twice/);
    rejects([{ type: 'echo', name: 'x' }, { type: 'lazy', name: 'x' }], /scanners\[1\]\.name: "x" is used twice/);
    assert.deepEqual(
      scannersOf([{ type: 'echo' }, { type: 'echo', name: 'echo2' }]).map((s) => s.name),
      ['echo', 'echo2'],
    );
  });

  test('scanner entries are frozen with the rest', () => {
    const [scanner] = scannersOf([{ type: 'echo' }]);
    assert.throws(() => {
      (scanner!.options as Record<string, unknown>).host = 'x';
    }, TypeError);
  });
});

describe('the real adapters through the loader', () => {
  const real = new Map<string, ScannerFactory>([
    [clamavScanner.type, clamavScanner as unknown as ScannerFactory],
    [spamassassinScanner.type, spamassassinScanner as unknown as ScannerFactory],
    [attachmentsScanner.type, attachmentsScanner as unknown as ScannerFactory],
  ]);

  test('clamav, spamassassin and attachments parse together, with their own defaults', () => {
    const { scanners } = parseConfig(
      {
        scanners: [
          { type: 'clamav', socket: '/run/clamav/clamd.ctl' },
          { type: 'spamassassin', host: '127.0.0.1', port: 783, rejectScore: 8 },
          { type: 'attachments', banned: ['exe'] },
        ],
      },
      real,
    );
    assert.deepEqual(scanners.map((s) => s.name), ['clamav', 'spamassassin', 'attachments']);
    assert.deepEqual(scanners[0]!.options, { socket: '/run/clamav/clamd.ctl', chunkSize: 65_536 });
    assert.equal(scanners[1]!.rejectScore, 8);
    assert.equal(scanners[1]!.maxSize, 512 * 1024);
    assert.equal(scanners[1]!.onOversize, 'truncate');
    assert.deepEqual((scanners[2]!.options as { banned: string[] }).banned, ['exe']);
  });

  // The adapter's schema refuses socket + host; rebuilding it from `.shape` would drop that check.
  test("clamav's socket/host exclusivity is enforced through the loader", () => {
    rejects([{ type: 'clamav', socket: '/run/clamav/clamd.ctl', host: '127.0.0.1' }], /scanners\[0\]\.socket: set either socket or host\/port/, real);
    rejects([{ type: 'spamassassin', socket: '/run/spamd.sock', port: 783 }], /scanners\[0\]\.socket: /, real);
  });
});

describe('scanner types that clash with the common keys', () => {
  test('an adapter that redefines a common key is a ConfigError naming it, refined or not', () => {
    const refined = fakeFactory('refined', z.strictObject({ timeout: z.number() }).refine(() => true));
    const plain = fakeFactory('plain', z.strictObject({ timeout: z.enum(['fast', 'slow']) }));
    rejects([{ type: 'refined', timeout: 5 }], /scanner type "refined" redefines common keys: timeout/, new Map([['refined', refined]]));
    rejects([{ type: 'plain', timeout: 'fast' }], /scanner type "plain" redefines common keys: timeout/, new Map([['plain', plain]]));
  });
});

describe('policy.mode and the per-scanner mode', () => {
  test('enforce by default; policy.mode is every scanner\'s default; an entry overrides it', () => {
    assert.deepEqual(scannersOf([{ type: 'echo' }]).map((s) => s.mode), ['enforce']);
    const observed = parseConfig({ policy: { mode: 'observe' }, scanners: [{ type: 'echo' }, { type: 'lazy', mode: 'enforce' }] }, factories);
    assert.deepEqual(observed.scanners.map((s) => [s.name, s.mode]), [['echo', 'observe'], ['lazy', 'enforce']]);
  });

  test('a mode that is neither names its key', () => {
    assert.throws(() => parseConfig({ policy: { mode: 'dry-run' } }, factories), /policy\.mode: /);
    rejects([{ type: 'echo', mode: 'dry-run' }], /scanners\[0\]\.mode: /);
  });
});

describe('several endpoints per scanner (servers)', () => {
  const clamav = new Map<string, ScannerFactory>([[clamavScanner.type, clamavScanner as unknown as ScannerFactory]]);
  const clamavScanners = (entries: unknown[]) => parseConfig({ scanners: entries }, clamav).scanners;
  test('each server is the entry\'s own keys with its own over them, validated by the type; options are the first\'s', () => {
    const [scanner] = clamavScanners([{ type: 'clamav', chunkSize: 4096, servers: [{ host: 'av1', port: 3310 }, { socket: '/run/clamd.sock' }] }]);
    assert.deepEqual(scanner!.servers, [
      { host: 'av1', port: 3310, chunkSize: 4096 },
      { socket: '/run/clamd.sock', chunkSize: 4096 },
    ]);
    assert.deepEqual(scanner!.options, scanner!.servers![0]);
    assert.equal(clamavScanners([{ type: 'clamav' }])[0]!.servers, undefined);
  });

  test('a bad server names its place; common keys are not per server', () => {
    rejects([{ type: 'clamav', servers: [{ host: 'av1' }, { port: 'x' }] }], /scanners\[0\]\.servers\[1\]\.port: /, clamav);
    rejects([{ type: 'clamav', host: 'av1', servers: [{ socket: '/run/clamd.sock' }] }], /scanners\[0\]\.servers\[0\]\.socket: set either socket or host\/port/, clamav);
    rejects([{ type: 'clamav', servers: [{ host: 'av1', timeout: 5 }] }], /scanners\[0\]\.servers\[0\]\.timeout: unknown key/, clamav);
    rejects([{ type: 'clamav', servers: [] }], /scanners\[0\]\.servers: /, clamav);
  });
});
