/**
 * Resolves with the first SIGTERM or SIGINT. Call it before the proxy listens: a signal that
 * finds no listener kills the process on the spot, with no drain and no last log lines (a
 * SIGTERM right after the "listening" line did, before the listeners were added earlier).
 * The listeners stay after the first signal: a Ctrl-C reaches a worker twice (from the terminal
 * and from the primary), and a second signal with no listener would kill it mid-drain.
 */
export function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.on('SIGTERM', resolve);
    process.on('SIGINT', resolve);
  });
}
