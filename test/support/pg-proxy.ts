// A TCP proxy on 127.0.0.1 to the shared PostgreSQL server, for tests of a database that cannot be
// reached: nothing listens until it starts, `refuse` picks connections it closes as they arrive, and
// `freeze` stops the connections open so far without closing them (a partition).
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { ADMIN_URL, type TempDatabase } from './postgres.ts';

export interface PgProxy {
  port: number;
  /** Connections accepted or refused so far. */
  connections(): number;
  /**
   * Stops forwarding on every connection open now, in both directions, or only the server's answers
   * (statements still reach the server); later connections are served.
   */
  freeze(only?: 'answers'): void;
  close(): Promise<void>;
}

/** Forwards connections to `port` (0: any free one) on to the server, except the `nth` (1-based) that `refuse` picks. */
export async function startPgProxy(
  port: number,
  refuse: (nth: number) => boolean = () => false,
): Promise<PgProxy> {
  const target = new URL(ADMIN_URL);
  const sockets = new Set<Socket>();
  const upstreams = new Set<Socket>();
  let seen = 0;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server: Server = createServer((client) => {
    if (refuse(++seen)) {
      client.destroy();
      return;
    }
    const upstream = tcpConnect(Number(target.port || 5432), target.hostname);
    track(client);
    track(upstream);
    upstreams.add(upstream);
    upstream.on('close', () => upstreams.delete(upstream));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    connections: () => seen,
    freeze: (only) => {
      for (const socket of only === 'answers' ? upstreams : sockets) socket.pause();
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** `db`'s URL with its host and port replaced by 127.0.0.1:`port`. */
export function viaPort(db: TempDatabase, port: number): string {
  const url = new URL(db.url);
  url.host = `127.0.0.1:${port}`;
  return url.href;
}
