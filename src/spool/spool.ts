import { randomBytes } from 'node:crypto';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { SpoolError } from '../errors.js';
import { events } from '../observe/events.js';
import type { MemoryBudget } from './memory-budget.js';
import type { SpooledMessage } from './message.js';

export interface SpoolOptions {
  readonly dir: string;
  readonly memoryPerMessage: number;
  readonly budget: MemoryBudget;
}

/** Bytes read from a spool file at a time (what a file stream's highWaterMark was). */
const READ_SIZE = 256 * 1024;

/**
 * One message, written once and read by many: in memory up to a threshold (and while the shared
 * budget allows), then in a private temp file. Every reader gets its own stream.
 *
 * The temp file is unlinked as soon as it is created, and every reader reads from the handle it
 * was written with: no reader ever opens the path, so nobody who can write to the spool
 * directory can swap the content between the scan and the relay.
 */
export class Spool implements SpooledMessage {
  private chunks: Buffer[] = [];
  private reserved = 0;
  private file: FileHandle | undefined;
  private readers = new Set<Readable>();
  private bytes = 0;
  private disposed = false;

  constructor(private readonly options: SpoolOptions) {}

  get size(): number {
    return this.bytes;
  }

  /** Whether the message went to a temp file (for tests and logs). */
  get inFile(): boolean {
    return this.file !== undefined;
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

  createReadStream(range: { start?: number; end?: number } = {}): Readable {
    if (this.disposed) throw new SpoolError('spool already disposed', {});
    const start = Math.max(0, range.start ?? 0);
    const end = Math.min(this.bytes, range.end ?? this.bytes);
    let stream: Readable;
    if (end <= start) stream = Readable.from([], { objectMode: false });
    else if (this.file) stream = Readable.from(readRange(this.file, start, end), { objectMode: false });
    else stream = Readable.from(sliceChunks(this.chunks, start, end), { objectMode: false });
    this.readers.add(stream);
    stream.once('close', () => this.readers.delete(stream));
    return stream;
  }

  /** Frees memory and closes the temp file; open readers are destroyed. Never throws. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const reader of this.readers) reader.destroy();
    this.readers.clear();
    this.chunks = [];
    this.options.budget.release(this.reserved);
    this.reserved = 0;
    if (this.file) events.spool.publish({ where: 'disk', delta: -this.bytes });
    // A read under way keeps the handle open until it returns (FileHandle counts them).
    await this.file?.close().catch(() => undefined);
  }

  private async moveToFile(): Promise<void> {
    const name = `msg-${process.pid}-${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
    const filePath = path.join(this.options.dir, name);
    let handle: FileHandle;
    try {
      // 'wx+': never follow or reuse a file someone else put there; read back through the same
      // handle. The directory itself is checked at start-up (spool-dir.ts).
      handle = await open(filePath, 'wx+', 0o600);
    } catch (error) {
      throw spoolError('cannot create spool file', error);
    }
    try {
      await unlink(filePath);
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw spoolError('cannot unlink spool file', error);
    }
    this.file = handle;
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
        const { bytesWritten } = await this.file!.write(chunk, offset, chunk.length - offset);
        offset += bytesWritten;
      }
      events.spool.publish({ where: 'disk', delta: chunk.length });
    } catch (error) {
      throw spoolError('cannot write spool file', error);
    }
  }
}

/**
 * Bytes [start, end) of the spool file by positional reads: readers of one handle never move a
 * shared file position, so any number of them can run at once.
 */
async function* readRange(handle: FileHandle, start: number, end: number): AsyncGenerator<Buffer> {
  for (let position = start; position < end; ) {
    const length = Math.min(READ_SIZE, end - position);
    const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafe(length), 0, length, position);
    // Nobody else has the file, so a short file is a fault: a truncated message must never go on.
    if (bytesRead === 0) throw new SpoolError(`spool file ends at ${position} of ${end} bytes`, {});
    yield buffer.subarray(0, bytesRead);
    position += bytesRead;
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
