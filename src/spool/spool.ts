import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, constants, mkdir, open, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ConfigError, SpoolError } from '../errors.js';
import type { MemoryBudget } from './memory-budget.js';
import type { SpooledMessage } from './message.js';

export interface SpoolOptions {
  readonly dir: string;
  readonly memoryPerMessage: number;
  readonly budget: MemoryBudget;
}

/**
 * One message, written once and read by many: in memory up to a threshold (and while the shared
 * budget allows), then in a private temp file. Every reader gets its own stream.
 */
export class Spool implements SpooledMessage {
  private chunks: Buffer[] = [];
  private reserved = 0;
  private file: { path: string; handle: FileHandle | undefined } | undefined;
  private readers = new Set<Readable>();
  private bytes = 0;
  private disposed = false;

  constructor(private readonly options: SpoolOptions) {}

  get size(): number {
    return this.bytes;
  }

  /** The temp file's path while the message is on disk (for tests and logs). */
  get filePath(): string | undefined {
    return this.file?.path;
  }

  async write(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    if (!this.file && this.bytes + chunk.length <= this.options.memoryPerMessage && this.options.budget.tryReserve(chunk.length)) {
      this.reserved += chunk.length;
      this.chunks.push(chunk);
      this.bytes += chunk.length;
      return;
    }
    if (!this.file) await this.moveToFile();
    await this.writeToFile(chunk);
    this.bytes += chunk.length;
  }

  /** Closes the writing side; readers may be created afterwards. */
  async end(): Promise<void> {
    const handle = this.file?.handle;
    if (!handle) return;
    this.file!.handle = undefined;
    await handle.close();
  }

  createReadStream(range: { start?: number; end?: number } = {}): Readable {
    if (this.disposed) throw new SpoolError('spool already disposed', {});
    const start = Math.max(0, range.start ?? 0);
    const end = Math.min(this.bytes, range.end ?? this.bytes);
    let stream: Readable;
    if (end <= start) stream = Readable.from([], { objectMode: false });
    else if (this.file) stream = createReadStream(this.file.path, { start, end: end - 1, highWaterMark: 256 * 1024 });
    else stream = Readable.from(sliceChunks(this.chunks, start, end), { objectMode: false });
    this.readers.add(stream);
    stream.once('close', () => this.readers.delete(stream));
    return stream;
  }

  /** Frees memory and removes the temp file; open readers are destroyed. Never throws. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const reader of this.readers) reader.destroy();
    this.readers.clear();
    this.chunks = [];
    this.options.budget.release(this.reserved);
    this.reserved = 0;
    const file = this.file;
    if (!file) return;
    await file.handle?.close().catch(() => undefined);
    await unlink(file.path).catch(() => undefined);
  }

  private async moveToFile(): Promise<void> {
    const name = `msg-${process.pid}-${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
    const filePath = path.join(this.options.dir, name);
    let handle: FileHandle;
    try {
      // 'wx': never follow or reuse a file someone else put there. The directory itself is
      // made at start-up (prepareSpoolDir).
      handle = await open(filePath, 'wx', 0o600);
    } catch (error) {
      throw spoolError('cannot create spool file', error);
    }
    this.file = { path: filePath, handle };
    const held = this.chunks;
    this.chunks = [];
    for (const chunk of held) await this.writeToFile(chunk);
    this.options.budget.release(this.reserved);
    this.reserved = 0;
  }

  private async writeToFile(chunk: Buffer): Promise<void> {
    try {
      let offset = 0;
      while (offset < chunk.length) {
        const { bytesWritten } = await this.file!.handle!.write(chunk, offset, chunk.length - offset);
        offset += bytesWritten;
      }
    } catch (error) {
      throw spoolError('cannot write spool file', error);
    }
  }
}

/** Creates the spool directory at start-up and checks that it is writable. */
export async function prepareSpoolDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await access(dir, constants.W_OK);
  } catch (error) {
    throw new ConfigError(`spool.dir: ${dir} is not a writable directory: ${(error as Error).message}`, { cause: error });
  }
}

function* sliceChunks(chunks: readonly Buffer[], start: number, end: number): Generator<Buffer> {
  let offset = 0;
  for (const chunk of chunks) {
    const chunkEnd = offset + chunk.length;
    if (chunkEnd > start && offset < end) {
      yield chunk.subarray(Math.max(0, start - offset), Math.min(chunk.length, end - offset));
    }
    offset = chunkEnd;
    if (offset >= end) return;
  }
}

function spoolError(what: string, error: unknown): SpoolError {
  const code = (error as NodeJS.ErrnoException).code;
  return new SpoolError(`${what}: ${(error as Error).message}`, { cause: error, full: code === 'ENOSPC' || code === 'EDQUOT' });
}
