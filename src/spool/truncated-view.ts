import type { SpooledMessage } from './message.js';

/** How far back from the limit a line boundary is looked for. */
const LOOK_BACK = 64 * 1024;

/**
 * The first `limit` bytes of a message, cut after the last line break within them (a cut in the
 * middle of a line would end the view in a partial line), as its own SpooledMessage. Mature
 * filters scan only the start of large messages; this is that start.
 */
export async function truncatedView(message: SpooledMessage, limit: number): Promise<SpooledMessage> {
  if (message.size <= limit) return message;
  const from = Math.max(0, limit - LOOK_BACK);
  const chunks: Buffer[] = [];
  for await (const chunk of message.createReadStream({ start: from, end: limit }) as AsyncIterable<Buffer>) chunks.push(chunk);
  const tail = Buffer.concat(chunks);
  const lastLineBreak = tail.lastIndexOf(0x0a);
  const size = lastLineBreak === -1 ? limit : from + lastLineBreak + 1;
  return {
    size,
    createReadStream: (range = {}) =>
      message.createReadStream({ start: range.start ?? 0, end: Math.min(size, range.end ?? size) }),
  };
}
