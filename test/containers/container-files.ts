import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import { parse as parseYaml } from 'yaml';

/** Readers for the container files at the repository root, for test/containers/lint.test.ts. */
export const root = path.resolve(import.meta.dirname, '../..');

export function read(file: string): string {
  return readFileSync(path.join(root, file), 'utf8');
}

export interface Instruction {
  readonly keyword: string;
  /** The arguments as words, flags (--interval=30s) left out. */
  readonly args: string[];
  readonly flags: string[];
  /** What follows the keyword, flags included, continuation lines joined. */
  readonly text: string;
}

export interface Stage {
  readonly image: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

/** The Dockerfile as build stages, each with its instructions in order. */
export function dockerfileStages(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const instruction of DockerfileParser.parse(text).getInstructions()) {
    const keyword = instruction.getKeyword();
    const words = instruction.getArguments().map((arg) => arg.getValue());
    const flags = 'getFlags' in instruction && typeof instruction.getFlags === 'function'
      ? (instruction.getFlags() as { getName(): string; getValue(): string | null }[]).map((flag) => `--${flag.getName()}=${flag.getValue() ?? ''}`)
      : [];
    const entry = { keyword, args: words, flags, text: instruction.getArgumentsContent() ?? '' };
    if (keyword === 'FROM') {
      const as = words.findIndex((word) => word.toUpperCase() === 'AS');
      stages.push({ image: words[0] ?? '', name: as >= 0 ? words[as + 1] : undefined, instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`${keyword} before the first FROM`);
      stage.instructions.push(entry);
    }
  }
  return stages;
}

/** The exec-form array of CMD or of HEALTHCHECK ... CMD [...]; undefined for the shell form. */
export function execForm(instruction: Instruction): string[] | undefined {
  const json = /\[.*\]\s*$/s.exec(instruction.text)?.[0];
  if (!json) return undefined;
  const parsed: unknown = JSON.parse(json);
  return Array.isArray(parsed) && parsed.every((word) => typeof word === 'string') ? parsed : undefined;
}

export interface ComposeService {
  readonly image?: string;
  readonly build?: string | { context?: string };
  readonly depends_on?: string[] | Record<string, { condition?: string }>;
  readonly healthcheck?: { test?: string | string[]; disable?: boolean; start_period?: string };
  readonly ports?: (string | { host_ip?: string; published?: string | number; target?: number })[];
  readonly volumes?: (string | { type?: string; source?: string; target?: string })[];
  readonly environment?: Record<string, string> | string[];
  readonly stop_grace_period?: string;
  /** Started only with `docker compose --profile NAME`; no profiles: always. */
  readonly profiles?: string[];
  readonly networks?: string[] | Record<string, { ipv4_address?: string } | null>;
}

export interface ComposeFile {
  readonly services: Record<string, ComposeService>;
  readonly volumes?: Record<string, unknown>;
  readonly networks?: Record<string, { ipam?: { config?: { subnet?: string }[] } } | null>;
}

export function composeFile(): ComposeFile {
  return parseYaml(read('docker-compose.yml')) as ComposeFile;
}

/** "1m30s", "40s", "10m" (compose durations) in milliseconds. */
export function composeDuration(text: string): number {
  const units: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  const rest = text.replace(/(\d+(?:\.\d+)?)(us|ms|s|m|h)/g, (_, value: string, unit: string) => {
    total += Number(value) * units[unit]!;
    return '';
  });
  if (rest !== '' || text === '') throw new Error(`not a compose duration: ${text}`);
  return total;
}

/** Whether a path of the build context is excluded by .dockerignore (plain names and `*` only). */
export function dockerignored(patterns: readonly string[], file: string): boolean {
  const parts = file.split('/');
  return patterns.some((pattern) => {
    const regex = new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
    // A pattern matches the path itself or any directory above it.
    return parts.some((_, index) => regex.test(parts.slice(0, index + 1).join('/')));
  });
}

export function dockerignorePatterns(): string[] {
  return read('.dockerignore')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}
