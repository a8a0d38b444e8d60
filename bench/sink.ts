// The webhook receiver for the benchmark, run as a forked child process.
// Answers every POST with 204, dedupes by (webhook-id, path) and records the
// first arrival of each webhook-id on the shared monotonic clock.
// IPC protocol: parent sends {op:'count'|'dump'|'reset', ref}; the sink replies {ref, ...}.
import { createServer } from 'node:http';
import { nowMs } from './lib.ts';

export type SinkCount = { total: number; unique: number; lastAt: number };
export type SinkDump = SinkCount & { firstAt: Record<string, number> };
export type SinkRequest = { op: 'count' | 'dump' | 'reset'; ref: number };

let total = 0;
let lastAt = 0;
let seen = new Set<string>();
let firstAt = new Map<string, number>();

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const at = nowMs();
    total++;
    const id = req.headers['webhook-id'];
    if (typeof id === 'string') {
      const key = `${id} ${req.url ?? ''}`;
      if (!seen.has(key)) {
        seen.add(key);
        lastAt = at;
      }
      if (!firstAt.has(id)) firstAt.set(id, at);
    }
    res.writeHead(204).end();
  });
});
server.keepAliveTimeout = 30_000;

function count(): SinkCount {
  return { total, unique: seen.size, lastAt };
}

process.on('message', (msg: SinkRequest) => {
  switch (msg.op) {
    case 'count':
      process.send?.({ ref: msg.ref, ...count() });
      return;
    case 'dump':
      process.send?.({ ref: msg.ref, ...count(), firstAt: Object.fromEntries(firstAt) });
      return;
    case 'reset':
      total = 0;
      lastAt = 0;
      seen = new Set();
      firstAt = new Map();
      process.send?.({ ref: msg.ref });
      return;
    default: {
      const _exhaustive: never = msg.op;
      return _exhaustive;
    }
  }
});

// The parent going away (even by SIGKILL) closes the IPC channel: stop with it.
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  if (addr !== null && typeof addr === 'object') process.send?.({ ready: true, port: addr.port });
});
