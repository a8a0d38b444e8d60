// LISTEN/NOTIFY wake-ups across processes: a dedicated connection (LISTEN needs one held open) that
// reconnects by itself. Notifications sent while it was down are lost, so after every reconnection the
// listener is called once anyway: a worker then looks for due tasks, which is what a wake-up asks for.
// A connection that stops answering without closing (a partition, a failover that leaves sockets
// hanging) says nothing, and TCP keepalive would notice after hours: a heartbeat finds it out.

import pg from 'pg';
import { StoreUnavailableError } from '../store.ts';
import { connectTimeoutMs, isUnavailable } from './pg.ts';

export interface Listener {
  close(): Promise<void>;
}

const MIN_DELAY_MS = 100;
const MAX_DELAY_MS = 5000;
/** How often the connection is asked to answer, and how long it has to: a silent one is replaced. */
const HEARTBEAT_MS = 10_000;

export async function listen(
  url: string,
  channel: string,
  onNotify: (payload: string) => void,
  heartbeatMs = HEARTBEAT_MS,
): Promise<Listener> {
  let closed = false;
  let client: pg.Client | null = null;
  let timer: NodeJS.Timeout | null = null;
  let beat: NodeJS.Timeout | null = null; // the heartbeat of the connection in use
  let delay = MIN_DELAY_MS;

  async function connect(): Promise<void> {
    const c = new pg.Client({
      connectionString: url,
      keepAlive: true,
      connectionTimeoutMillis: connectTimeoutMs(url),
    });
    let lost = false;
    const onLost = () => {
      if (lost) return;
      lost = true;
      if (client === c) {
        client = null;
        if (beat) clearTimeout(beat);
      }
      c.end().catch(() => {});
      retry();
    };
    // One query at a time: the next is asked for once this one has answered.
    const heartbeat = () => {
      beat = setTimeout(() => {
        const config: pg.QueryConfig & { query_timeout: number } = {
          text: 'SELECT 1',
          query_timeout: heartbeatMs,
        };
        c.query(config).then(() => client === c && heartbeat(), onLost);
      }, heartbeatMs).unref();
    };
    c.on('notification', (n) => {
      if (n.channel === channel) onNotify(n.payload ?? '');
    });
    c.on('error', onLost);
    c.on('end', onLost);
    try {
      await c.connect();
      await c.query(`LISTEN ${c.escapeIdentifier(channel)}`);
    } catch (error) {
      lost = true; // not a loss to recover from here: the caller decides
      await c.end().catch(() => {});
      throw error;
    }
    if (closed) {
      lost = true;
      await c.end().catch(() => {});
      return;
    }
    client = c;
    delay = MIN_DELAY_MS;
    heartbeat();
  }

  function retry(): void {
    if (closed || timer) return;
    timer = setTimeout(() => {
      timer = null;
      connect().then(
        () => {
          if (!closed) onNotify(''); // anything may have been published while we were away
        },
        () => {
          delay = Math.min(delay * 2, MAX_DELAY_MS);
          retry();
        },
      );
    }, delay);
  }

  // The first connection is the caller's to wait for: a database that cannot be reached says so as any
  // other call would, and what waiting does not fix is thrown as it is.
  await connect().catch((error: unknown) => {
    throw isUnavailable(error) ? new StoreUnavailableError(error) : error;
  });
  return {
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = null;
      if (beat) clearTimeout(beat);
      const c = client;
      client = null;
      await c?.end().catch(() => {});
    },
  };
}
