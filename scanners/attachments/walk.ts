/**
 * Walks the MIME structure of a message as it streams and tells what each part calls itself.
 * Bodies are neither decoded nor kept, except those of attached messages: these are decoded as
 * they stream and walked in turn, so memory stays bounded whatever the message size.
 */
import { once, setMaxListeners } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MimeNode, Splitter, type SplitterChunk } from '@zone-eu/mailsplit';
import type { PartLabels } from './rules.js';

/** Attached messages opened inside one another; a deeper one is reported unopened. */
export const MAX_DEPTH = 8;

const MESSAGE_TYPES = new Set(['message/rfc822', 'message/global']);

type Node = Extract<SplitterChunk, { type: 'node' }>;

interface Child {
  readonly decoder: Writable;
  /** Settles when the nested walk does; holds its error rather than rejecting unheard. */
  readonly outcome: Promise<{ readonly error: unknown } | null>;
}

/** Calls `visit` with each part of the message, attached messages included, as it streams. */
export function walkParts(input: Readable, visit: (part: PartLabels) => void, signal: AbortSignal): Promise<void> {
  // Each nested walk listens to the signal; one derived signal keeps the caller's listener
  // count at one and allows the nested listeners without a MaxListenersExceeded warning.
  const local = AbortSignal.any([signal]);
  setMaxListeners(2 * (MAX_DEPTH + 1) + 1, local);
  return walk(input, visit, local, 0);
}

async function walk(input: Readable, visit: (part: PartLabels) => void, signal: AbortSignal, depth: number): Promise<void> {
  // mailsplit itself opens only attached messages that are inline and not transfer-encoded;
  // taking every one as a leaf and walking it here opens them all the same way.
  const splitter = new Splitter({ ignoreEmbedded: true });
  let child: Child | undefined;

  const closeChild = async (): Promise<void> => {
    if (child === undefined) return;
    const { decoder, outcome } = child;
    child = undefined;
    decoder.end();
    const failed = await outcome;
    if (failed !== null) throw failed.error;
  };

  await pipeline(
    input,
    splitter,
    async (chunks: AsyncIterable<SplitterChunk>) => {
      try {
        for await (const chunk of chunks) {
          if (chunk.type === 'body') {
            if (child !== undefined) await feed(child.decoder, chunk.value, signal);
            continue;
          }
          await closeChild();
          if (chunk.type !== 'node') continue;
          const message = chunk.contentType !== false && MESSAGE_TYPES.has(chunk.contentType);
          const opens = message && depth < MAX_DEPTH;
          visit(labels(chunk, message && !opens));
          if (opens) {
            const decoder = chunk.getDecoder();
            const outcome = walk(decoder, visit, signal, depth + 1).then(
              () => null,
              (error: unknown) => ({ error }),
            );
            child = { decoder, outcome };
          }
        }
        await closeChild();
      } finally {
        // after a failure here, a nested walk would otherwise wait for the rest of its input
        child?.decoder.destroy();
      }
    },
    { signal },
  );
}

async function feed(decoder: Writable, bytes: Buffer, signal: AbortSignal): Promise<void> {
  // A nested walk that failed has destroyed its decoder; its error surfaces at closeChild.
  if (decoder.destroyed) return;
  if (!decoder.write(bytes)) await once(decoder, 'drain', { signal });
}

/**
 * mailsplit names a part after the first Content-Disposition filename, else the first
 * Content-Type name. Mail clients differ (some prefer the Content-Type name, some the last of
 * duplicated headers), so each of these headers is also read on its own, with mailsplit's own
 * decoding of RFC 2231 parameters and encoded words, and every name it gives is judged.
 */
function labels(node: Node, unopened: boolean): PartLabels {
  const names = new Set<string>();
  const types = new Set<string>();
  if (node.filename !== false) names.add(node.filename);
  if (node.contentType !== false) types.add(node.contentType);
  if (node.headers !== false) {
    for (const key of ['content-disposition', 'content-type']) {
      for (const line of node.headers.get(key)) {
        const alone = new MimeNode(false);
        // header lines are kept as latin1 strings of the raw bytes
        alone.addHeaderChunk(Buffer.from(line, 'latin1'));
        alone.parseHeaders();
        if (alone.filename !== false) names.add(alone.filename);
        if (key === 'content-type' && alone.contentType !== false) types.add(alone.contentType);
      }
    }
  }
  return { names: [...names], types: [...types], unopened };
}
