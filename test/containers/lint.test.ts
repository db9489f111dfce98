import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { validate } from 'dockerfile-utils';
import { loadConfig } from '../../src/config/load.js';
import { builtinScanners } from '../../src/scan/builtin.js';
import {
  composeDuration,
  composeFile,
  dockerfileStages,
  dockerignored,
  dockerignorePatterns,
  execForm,
  read,
  root,
  type ComposeService,
  type Instruction,
} from './container-files.js';
import { composeImages } from './images.js';

/**
 * Offline checks of Dockerfile, docker-compose.yml and docker/config.yaml (`npm run
 * lint:containers`). No engine runs here, so this is what proves them well-formed: dclint
 * (the compose-spec JSON schema and its rules, docker/dclint.yaml), dockerfile-utils (the
 * Dockerfile language server's validator), and the structure the proxy relies on.
 */

describe('docker-compose.yml', () => {
  const compose = composeFile();
  const services = Object.entries(compose.services);

  test('dclint: the compose-spec schema and its rules (docker/dclint.yaml) find nothing', () => {
    const bin = path.join(root, 'node_modules/dclint/bin/dclint.cjs');
    try {
      execFileSync(process.execPath, [bin, '--color=false', '-c', 'docker/dclint.yaml', 'docker-compose.yml'], { cwd: root, encoding: 'utf8' });
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: string; stderr?: string };
      assert.fail(`dclint found problems:\n${stdout ?? ''}${stderr ?? ''}`);
    }
  });

  test('every service has an image or a build, and a healthcheck', () => {
    for (const [name, service] of services) {
      assert.ok(service.image || service.build, `${name}: image or build`);
      const check = service.healthcheck;
      assert.ok(check && !check.disable && check.test && check.test.length > 0, `${name}: healthcheck`);
    }
  });

  test('depends_on waits for healthy services that exist and have a healthcheck', () => {
    const proxy = compose.services.proxy!;
    const dependencies = proxy.depends_on;
    assert.ok(dependencies && !Array.isArray(dependencies), 'proxy: depends_on with conditions');
    // The proxy of a plain `docker compose up`: every service outside a profile but itself.
    const always = services.filter(([name, service]) => name !== 'proxy' && !service.profiles).map(([name]) => name);
    assert.deepEqual(Object.keys(dependencies).sort(), always.sort());
    for (const [name, { condition }] of Object.entries(dependencies)) {
      assert.equal(condition, 'service_healthy', `proxy depends on ${name}`);
      assert.ok(compose.services[name]?.healthcheck?.test, `${name} has a healthcheck`);
    }
  });

  test('published ports are bound to 127.0.0.1', () => {
    for (const [name, service] of services) {
      for (const port of service.ports ?? []) {
        const hostIp = typeof port === 'string' ? port.split(':').length === 3 && port.split(':')[0] : port.host_ip;
        assert.equal(hostIp, '127.0.0.1', `${name}: ${JSON.stringify(port)}`);
      }
    }
  });

  test('named volumes are declared; the clamav service keeps its database in one', () => {
    const declared = Object.keys(compose.volumes ?? {});
    for (const [name, service] of services) {
      for (const volume of service.volumes ?? []) {
        const source = typeof volume === 'string' ? volume.split(':')[0]! : volume.source ?? '';
        if (!source.startsWith('.') && !source.startsWith('/')) assert.ok(declared.includes(source), `${name}: volume ${source}`);
      }
    }
    assert.ok(compose.services.clamav!.volumes?.some((v) => typeof v === 'string' && v.endsWith(':/var/lib/clamav')));
  });

  test('the scanner images are the ones the container suite starts (test/containers/images.ts)', () => {
    assert.equal(compose.services.clamav!.image, composeImages.clamav);
    assert.equal(compose.services.spamassassin!.image, composeImages.spamassassin);
    assert.equal(compose.services.rspamd!.image, composeImages.rspamd);
  });

  test('profile rspamd: its proxy waits for clamav, Mailpit and Rspamd, never for spamd', () => {
    const proxy = compose.services['proxy-rspamd']!;
    assert.deepEqual(proxy.profiles, ['rspamd']);
    assert.deepEqual(compose.services.rspamd!.profiles, ['rspamd']);
    const dependencies = proxy.depends_on;
    assert.ok(dependencies && !Array.isArray(dependencies));
    assert.deepEqual(Object.keys(dependencies).sort(), ['clamav', 'mailpit', 'rspamd']);
    assert.ok(proxy.volumes?.includes('./docker/config-rspamd.yaml:/etc/smtp-scan-proxy/config.yaml:ro'));
  });
});

describe('Dockerfile', () => {
  const text = read('Dockerfile');
  const stages = dockerfileStages(text);
  const [build, runtime] = stages;
  const runtimeOf = (keyword: string): Instruction[] => runtime!.instructions.filter((i) => i.keyword === keyword);

  test('dockerfile-utils finds no problem', () => {
    const problems = validate(text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
    assert.deepEqual(problems, []);
  });

  test('two stages on node:24-slim: npm ci and the build, then production dependencies only', () => {
    assert.deepEqual(stages.map((s) => [s.image, s.name]), [['node:24-slim', 'build'], ['node:24-slim', 'runtime']]);
    const runs = (stage: typeof build) => stage!.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.text);
    assert.ok(runs(build).some((run) => /\bnpm ci\b/.test(run) && !run.includes('--omit=dev')));
    assert.ok(runs(build).some((run) => run.includes('npm run build')));
    assert.ok(runs(runtime).some((run) => /\bnpm ci\b.*--omit=dev/.test(run)));
    assert.ok(runtime!.instructions.some((i) => i.keyword === 'COPY' && i.flags.includes('--from=build') && i.args[0] === '/app/dist'));
  });

  test('runs as the non-root "node" user, exposes 2525, stops on SIGTERM', () => {
    const users = runtimeOf('USER');
    assert.deepEqual(users.at(-1)?.args, ['node']);
    const keywords = runtime!.instructions.map((i) => i.keyword);
    assert.ok(keywords.lastIndexOf('USER') < keywords.indexOf('CMD'), 'USER before CMD');
    assert.deepEqual(runtimeOf('EXPOSE').map((i) => i.args), [['2525']]);
    assert.deepEqual(runtimeOf('STOPSIGNAL').map((i) => i.args), [['SIGTERM']]);
  });

  test('CMD runs dist/src/cli.js, where tsc puts src/cli.ts; HEALTHCHECK runs its --check', () => {
    assert.deepEqual(execForm(runtimeOf('CMD')[0]!), ['node', 'dist/src/cli.js']);
    const [healthcheck] = runtimeOf('HEALTHCHECK');
    assert.deepEqual(execForm(healthcheck!), ['node', 'dist/src/cli.js', '--check']);
    assert.ok(existsSync(path.join(root, 'src/cli.ts')));
    const tsconfig = JSON.parse(read('tsconfig.json')) as { compilerOptions: { outDir: string; rootDir: string } };
    assert.equal(path.join(tsconfig.compilerOptions.outDir, path.relative(tsconfig.compilerOptions.rootDir, 'src/cli.js')), 'dist/src/cli.js');
  });

  test('the config file: SMTP_SCAN_PROXY_CONFIG names where docker/config.yaml is copied and compose mounts it', () => {
    const env = runtimeOf('ENV').flatMap((i) => i.args).find((arg) => arg.startsWith('SMTP_SCAN_PROXY_CONFIG='));
    const configPath = env?.split('=')[1];
    assert.equal(configPath, '/etc/smtp-scan-proxy/config.yaml');
    assert.ok(runtimeOf('COPY').some((i) => i.args[0] === 'docker/config.yaml' && i.args[1] === configPath));
    const proxy: ComposeService = composeFile().services.proxy!;
    assert.ok(proxy.volumes?.includes(`./docker/config.yaml:${configPath}:ro`));
    assert.deepEqual(proxy.environment, { SMTP_SCAN_PROXY_CONFIG: configPath });
    assert.deepEqual(proxy.healthcheck?.test, ['CMD', ...execForm(runtimeOf('HEALTHCHECK')[0]!)!]);
  });

  test('what the Dockerfile copies exists and is not in .dockerignore; node_modules, dist and .git are', () => {
    const ignored = dockerignorePatterns();
    const sources = stages.flatMap((s) => s.instructions)
      .filter((i) => i.keyword === 'COPY' && !i.flags.some((flag) => flag.startsWith('--from=')))
      .flatMap((i) => i.args.slice(0, -1));
    assert.ok(sources.length >= 6, sources.join(' '));
    for (const source of sources) {
      assert.ok(existsSync(path.join(root, source)), `${source} exists`);
      assert.ok(!dockerignored(ignored, source), `${source} is not in .dockerignore`);
    }
    for (const excluded of ['node_modules', 'dist', '.git', '.run', 'bench/node_modules', 'node_modules/x/y.js']) {
      assert.ok(dockerignored(ignored, excluded), `${excluded} is in .dockerignore`);
    }
  });
});

describe('docker/config.yaml', () => {
  test('is a valid config: the proxy listens on 0.0.0.0:2525, its upstream and scanners are compose services', async () => {
    const { config } = await loadConfig(path.join(root, 'docker/config.yaml'), builtinScanners, {});
    const services = composeFile().services;
    assert.equal(config.listen.host, '0.0.0.0');
    assert.equal(config.listen.port, 2525);
    assert.ok(services.proxy!.ports?.includes(`127.0.0.1:${config.listen.port}:${config.listen.port}`));
    assert.ok(services[config.upstream.host], `upstream ${config.upstream.host} is a service`);
    const endpoints = config.scanners.filter((s) => 'host' in s.options).map((s) => [s.type, s.options.host, s.options.port]);
    assert.deepEqual(endpoints, [['clamav', 'clamav', 3310], ['spamassassin', 'spamassassin', 783]]);
    for (const [, host] of endpoints) assert.ok(services[host as string], `${String(host)} is a service`);
    assert.ok(config.scanners.some((s) => s.type === 'attachments'));
  });

  test('docker/config-rspamd.yaml is docker/config.yaml with the spam engine swapped: rspamd on the compose service', async () => {
    const { config: spamd } = await loadConfig(path.join(root, 'docker/config.yaml'), builtinScanners, {});
    const { config: rspamd } = await loadConfig(path.join(root, 'docker/config-rspamd.yaml'), builtinScanners, {});
    const endpoints = rspamd.scanners.filter((s) => 'host' in s.options).map((s) => [s.type, s.options.host, s.options.port]);
    assert.deepEqual(endpoints, [['clamav', 'clamav', 3310], ['rspamd', 'rspamd', 11333]]);
    assert.ok(composeFile().services.rspamd, 'rspamd is a service');
    const { scanners: a, ...restA } = spamd;
    const { scanners: b, ...restB } = rspamd;
    assert.deepEqual(restB, restA);
    assert.deepEqual(b.filter((s) => s.type !== 'rspamd'), a.filter((s) => s.type !== 'spamassassin'));
  });

  test('the drain after SIGTERM fits in compose\'s stop_grace_period', async () => {
    const { config } = await loadConfig(path.join(root, 'docker/config.yaml'), builtinScanners, {});
    const grace = composeDuration(composeFile().services.proxy!.stop_grace_period ?? '10s');
    assert.ok(config.shutdown.timeout + 5000 <= grace, `shutdown.timeout ${config.shutdown.timeout} ms, grace ${grace} ms`);
  });
});
