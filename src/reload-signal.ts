export interface ReloadRequests {
  /**
   * Runs `reload` for each SIGHUP, one at a time: signals that arrive during a reload are
   * answered by one more reload after it, which reads the file as it is by then. A signal
   * that came before this call is answered at once.
   */
  handle(reload: () => Promise<void>): void;
}

/**
 * Listens for SIGHUP from the start, as stopSignal() does for SIGTERM: a SIGHUP that finds no
 * listener ends the process (Node's default), so an admin's reload during start-up would stop
 * the proxy instead.
 */
export function reloadSignal(): ReloadRequests {
  let handler: (() => Promise<void>) | undefined;
  let pending = false;
  let running = false;
  const run = async () => {
    if (running || !handler) return;
    running = true;
    try {
      while (pending) {
        pending = false;
        await handler();
      }
    } finally {
      running = false;
    }
  };
  process.on('SIGHUP', () => {
    pending = true;
    void run();
  });
  return {
    handle(reload) {
      handler = reload;
      void run();
    },
  };
}
