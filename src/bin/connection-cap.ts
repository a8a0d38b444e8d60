// The API's connections are capped below the process's open-file limit, less what delivery and the
// database need. A connection costs its client nothing to hold (keep-alive keeps an idle one 72 s, and
// any request renews it, no token needed): uncapped, a client could take every file descriptor, and
// attempts would fail with EMFILE as if their endpoints had. Past the cap, Node closes new connections
// at once, and the idle ones (between requests, or with none yet) are closed too, so that the clients who
// connect next get in, not those who hold connections for nothing; the process goes on delivering.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Config } from '../config/config.ts';
import { logNews } from '../delivery/fault-log.ts';

/** Descriptors kept for the rest: database files and their logs, threads, DNS, the listener, stdio. */
const RESERVED = 256;
/** However low the limit, the API takes this many. */
const FLOOR = 64;
/**
 * Requests a connection may have in progress at once (pipelined; HTTP clients send one at a time, or a
 * few): Node's parser hands on every request of what it read at once, and each answer waits in memory
 * for the client to read the ones before it. A client that sent thousands and read none held gigabytes.
 */
const MAX_PIPELINED = 32;

/** The soft limit of open files as /proc/self/limits gives it (Linux), or null where none is read. */
export function openFileLimit(limits: string | null = readLimits()): number | null {
  const m = /^Max open files\s+(\d+)\s/m.exec(limits ?? '');
  return m ? Number(m[1]) : null;
}

function readLimits(): string | null {
  try {
    return readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return null;
  }
}

/** The most API connections a process with `fileLimit` open files takes at once (none: no cap). */
export function connectionCap(
  fileLimit: number | null,
  config: Pick<Config, 'delivery' | 'poolSize'>,
): number | null {
  if (fileLimit === null) return null;
  return Math.max(FLOOR, fileLimit - config.delivery.concurrency - config.poolSize - RESERVED);
}

/** What to tell the operator when the open-file limit leaves delivery fewer descriptors than --concurrency. */
export function fileLimitWarning(
  fileLimit: number | null,
  config: Pick<Config, 'delivery' | 'poolSize'>,
): string | null {
  const needed = config.delivery.concurrency + config.poolSize + RESERVED + FLOOR;
  if (fileLimit === null || fileLimit >= needed) return null;
  return `doorbell: the open-file limit (${fileLimit}) is below the ${needed} that --concurrency ${config.delivery.concurrency} needs: attempts will wait for descriptors; raise it (ulimit -n) or lower --concurrency`;
}

/**
 * Caps `server`'s connections at `cap`: past it, closes those without a request in progress (every 100 ms
 * at most; Node's own closeIdleConnections closed none of them here), and says so on stderr (once a
 * minute at most). Closes a connection with more than MAX_PIPELINED requests in progress.
 */
export function capConnections(server: Server, cap: number, now = Date.now): void {
  server.maxConnections = cap;
  const requests = new Map<Socket, number>(); // each open connection: its requests in progress
  server.on('connection', (socket: Socket) => {
    requests.set(socket, 0);
    socket.once('close', () => requests.delete(socket));
  });
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const { socket } = request;
    const n = (requests.get(socket) ?? 0) + 1;
    if (n > MAX_PIPELINED) return void socket.destroy(); // the requests after it are dropped unserved
    requests.set(socket, n);
    response.once('close', () => {
      if (requests.has(socket)) requests.set(socket, (requests.get(socket) ?? 1) - 1);
    });
  });
  let closedAt = -Infinity;
  let saidAt = -Infinity;
  server.on('drop', () => {
    if (now() - closedAt >= 100) {
      closedAt = now();
      for (const [socket, n] of requests) if (n === 0) socket.destroy();
    }
    if (now() - saidAt < 60_000) return;
    saidAt = now();
    logNews(
      `doorbell: ${cap} API connections open, as many as the open-file limit leaves beside delivery: new ones are closed, and idle ones (raise the limit with ulimit -n)`,
    );
  });
}
