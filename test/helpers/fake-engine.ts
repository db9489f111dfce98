import net, { type Server, type Socket } from 'node:net';

export interface FakeServer {
  readonly port: number;
  readonly sockets: Socket[];
  close(): Promise<void>;
}

/**
 * A loopback TCP server (or a unix socket server when `path` is given) running `handle` per
 * connection, for the scanner clients' unit tests. `allowHalfOpen` keeps the server's side
 * open after the client's half-close, as spamd does.
 */
export async function fakeServer(
  handle: (socket: Socket, index: number) => void,
  path?: string,
  options: { allowHalfOpen?: boolean } = {},
): Promise<FakeServer> {
  const sockets: Socket[] = [];
  const server: Server = net.createServer({ allowHalfOpen: options.allowHalfOpen ?? false }, (socket) => {
    socket.on('error', () => {});
    sockets.push(socket);
    handle(socket, sockets.length - 1);
  });
  await new Promise<void>((resolve) => (path ? server.listen(path, resolve) : server.listen(0, '127.0.0.1', resolve)));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    sockets,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
