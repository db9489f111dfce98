import { getContainerRuntimeClient } from 'testcontainers';

/**
 * Why the container suites cannot run here, or undefined when a container runtime answers.
 * testcontainers rejects at once where no engine is reachable; the timeout covers an engine
 * that accepts the connection and never answers. SSP_SKIP_CONTAINERS=1 skips on purpose.
 */
export async function containerRuntimeMissing(timeoutMs = 8000): Promise<string | undefined> {
  if (process.env.SSP_SKIP_CONTAINERS === '1') return 'SSP_SKIP_CONTAINERS=1';
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
  });
  try {
    await Promise.race([getContainerRuntimeClient(), timeout]);
    return undefined;
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    return `no container runtime: ${text.split('\n')[0]}`;
  } finally {
    clearTimeout(timer);
  }
}

/** Calls `probe` until it resolves; its last error goes into the timeout's message. */
export async function waitFor(what: string, probe: () => Promise<void>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await probe();
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(`${what} not ready within ${timeoutMs / 1000} s: ${(error as Error).message}`, { cause: error });
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
