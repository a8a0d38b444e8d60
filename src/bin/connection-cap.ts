// The API's connections are capped below the process's open-file limit, less what delivery and the
// database need. A connection costs its client nothing to hold (keep-alive keeps an idle one 72 s, and
// any request renews it, no token needed): uncapped, a client could take every file descriptor, and
// attempts would fail with EMFILE as if their endpoints had. Past the cap, Node closes new connections
// at once; the process goes on delivering.
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Config } from '../config/config.ts';
import { logNews } from '../delivery/fault-log.ts';

/** Descriptors kept for the rest: database files and their logs, threads, DNS, the listener, stdio. */
const RESERVED = 256;
/** However low the limit, the API takes this many. */
const FLOOR = 64;

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

/** Caps `server`'s connections at `cap`, saying so on stderr (once a minute at most) while it drops some. */
export function capConnections(server: Server, cap: number, now = Date.now): void {
  server.maxConnections = cap;
  let saidAt = -Infinity;
  server.on('drop', () => {
    if (now() - saidAt < 60_000) return;
    saidAt = now();
    logNews(
      `doorbell: ${cap} API connections open, as many as the open-file limit leaves beside delivery: new ones are closed (raise it with ulimit -n)`,
    );
  });
}
