/**
 * A TCP forwarder between a test's platform and a real service, that the test can cut and restore: the
 * service stays up for everyone else while, to the platform, it is down (refused connections, dropped
 * sockets), as a restarting PostgreSQL or a partition would look.
 *
 *   const proxy = await startTcpProxy('127.0.0.1', 5432);
 *   ... DATABASE_URL: `postgres://postgres@127.0.0.1:${proxy.port}/test` ...
 *   await proxy.cut();      // every connection dropped, new ones refused
 *   await proxy.restore();  // the same port accepts again
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(host: string, targetPort: number): Promise<TcpProxy> {
  const open = new Set<Socket>();
  const track = (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  };
  const newServer = (): Server =>
    createServer((client) => {
      const upstream = connect(targetPort, host);
      track(client);
      track(upstream);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
  const listen = (server: Server, port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
    });

  let server = newServer();
  const port = await listen(server, 0);
  let up = true;
  const down = async () => {
    if (!up) return;
    up = false;
    const closed = new Promise((resolve) => server.close(resolve));
    for (const socket of open) socket.destroy();
    await closed;
  };
  return {
    port,
    cut: down,
    async restore() {
      if (up) return;
      server = newServer();
      await listen(server, port);
      up = true;
    },
    close: down,
  };
}
