import { createReadStream } from 'node:fs';
import { pipeline, Transform } from 'node:stream';
import type { LoadedConfig } from '../config/load.js';
import { prepareLocalSetup, removeLocalSetup } from '../local-setup.js';
import { silentLogger } from '../logger.js';
import type { Decision } from '../policy/decision.js';
import type { ScanResult } from '../scan/scan-result.js';
import { noScanning } from '../scan/no-scanning.js';
import type { ScanEnvelope } from '../scan/scan-session.js';
import { ScanningStage } from '../scan/scanning-stage.js';
import { replies } from '../smtp/replies.js';
import { formatReply } from '../smtp/reply.js';
import { MemoryBudget } from '../spool/memory-budget.js';
import { receiveMessage } from '../spool/receive.js';
import { Spool } from '../spool/spool.js';

/**
 * `scan FILE|-`: one message through the configured scanners and policy, as the proxy's session
 * takes it in (spool, size limit, line endings) and scans it. A file on disk ends its lines with
 * LF where SMTP has CRLF, so bare line feeds are normalized here even with
 * limits.bareLineFeed: reject, which is about what clients send. Exit 0 pass, 1 reject (5xx),
 * 2 tempfail (4xx) or a fault.
 */
export async function scanCommand({ config, factories }: LoadedConfig, input: string, out: (line: string) => void): Promise<number> {
  const local = await prepareLocalSetup(config, silentLogger);
  const stage = config.scanners.length === 0 ? undefined : ScanningStage.fromConfig(config, factories, silentLogger);
  const spool = new Spool({ dir: local.spool.dir, memoryPerMessage: config.spool.memoryPerMessage, budget: new MemoryBudget(config.spool.memoryTotal) });
  try {
    const source = input === '-' ? process.stdin : createReadStream(input);
    const limited = sizeLimit(config.limits.maxMessageSize);
    // pipeline, not pipe: a file that cannot be read fails the receive instead of hanging it.
    pipeline(source, limited, () => undefined);
    const received = await receiveMessage(limited, spool, { rejectBareLineBreaks: false });
    if (received.error) throw received.error;
    const decision: Decision = received.sizeExceeded
      ? { action: 'reject', reply: replies.messageTooBig, reason: `message over limits.maxMessageSize (${config.limits.maxMessageSize} bytes)` }
      : await (stage ?? noScanning).run(spool, localSession(), new AbortController().signal);
    if (!stage) out('no scanners configured');
    for (const result of decision.results ?? []) out(`${result.name}: ${describe(result)} (${result.ms} ms)`);
    return report(decision, out);
  } finally {
    await spool.dispose();
    await stage?.close();
    await removeLocalSetup(local);
  }
}

/** A file has no SMTP session: the scanners see one without a client, HELO or envelope, and add no hop for it. */
function localSession(): ScanEnvelope {
  return { id: 'scan', clientAddress: '', protocol: 'SMTP', mailFrom: '', rcptTo: [], role: 'inbound', receivedAt: new Date() };
}

function report(decision: Decision, out: (line: string) => void): number {
  if (decision.action === 'reject') {
    const tempfail = decision.reply.code < 500;
    out(`decision: ${tempfail ? 'tempfail' : 'reject'} (${decision.reason})`);
    out(`reply: ${formatReply(decision.reply)}`);
    return tempfail ? 2 : 1;
  }
  out(decision.observed ? `decision: pass (observe mode; would reject: ${decision.observed.reason})` : 'decision: pass');
  out("reply: the upstream's own reply to the relayed message");
  for (const [name, value] of decision.headers.add) out(`header: ${name}: ${value.replace(/\r\n\t/g, ' ')}`);
  return 0;
}

function describe({ verdict, scannedBytes, messageBytes }: ScanResult): string {
  const partial = scannedBytes === undefined ? '' : `, first ${scannedBytes} of ${messageBytes} bytes`;
  switch (verdict.kind) {
    case 'clean':
      return `clean${partial}`;
    case 'infected':
      return `infected: ${verdict.signature}${partial}`;
    case 'scored':
      return `score ${verdict.score.toFixed(1)}${verdict.rules.length > 0 ? ` [${verdict.rules.join(',')}]` : ''}${partial}`;
    case 'banned':
      return `banned: ${verdict.reason}`;
    case 'skipped':
      return `not scanned: ${verdict.reason}`;
    case 'error':
      return `error: ${verdict.error}: ${verdict.detail}`;
  }
}

/** Marks the stream the way smtp-server marks a DATA stream over its size limit. */
function sizeLimit(limit: number): Transform & { sizeExceeded?: boolean } {
  let bytes = 0;
  const limiter: Transform & { sizeExceeded?: boolean } = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes > limit) limiter.sizeExceeded = true;
      done(null, chunk);
    },
  });
  return limiter;
}
