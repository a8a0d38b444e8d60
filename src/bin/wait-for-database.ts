// `doorbell serve` on PostgreSQL starts before its database can be reached (a container started with its
// database, a server still starting up or failing over) and waits for it instead of exiting: a start
// that the database could not serve (the first open, or any call after it: the admin token, the LISTEN
// connection) is undone and tried again with backoff, and stderr says why it waits. Nothing listens in
// the meantime, so a load balancer sends the process no traffic until it can serve.

import { setTimeout as sleep } from 'node:timers/promises';
import { StoreUnavailableError } from '../store/store.ts';

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 5_000;
/** While it waits, one line this often says that it still does, and why. */
const REPORT_EVERY_MS = 30_000;

export interface Waiting {
  /** The database as it may be shown (without its password). */
  where: string;
  /** Aborted by a signal: the wait ends at once, rejected with the signal's reason. */
  signal: AbortSignal;
  log?: (line: string) => void;
}

/**
 * Calls `start` until it succeeds, waiting while it fails with StoreUnavailableError; a failed start must
 * have undone itself. Any other failure (a wrong password, a database or role that does not exist, a
 * newer schema, a port in use) is not fixed by waiting: it is thrown at once, as it is.
 */
export async function untilReachable<T extends { close(): Promise<void> }>(
  start: () => Promise<T>,
  waiting: Waiting,
): Promise<T> {
  const { where, signal } = waiting;
  const log = waiting.log ?? ((line: string) => console.error(line));
  const since = Date.now();
  let delay = FIRST_DELAY_MS;
  let reportedAt: number | null = null;
  for (;;) {
    signal.throwIfAborted();
    try {
      const started = await abortable(start(), signal);
      if (reportedAt !== null) log(`doorbell: connected to the database after ${secondsSince(since)}`);
      return started;
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (!(error instanceof StoreUnavailableError)) throw error;
      if (reportedAt === null) {
        log(`doorbell: waiting for the database ${where}: ${reasonOf(error)}`);
        reportedAt = Date.now();
      } else if (Date.now() - reportedAt >= REPORT_EVERY_MS) {
        log(`doorbell: still waiting for the database after ${secondsSince(since)}: ${reasonOf(error)}`);
        reportedAt = Date.now();
      }
    }
    // A timer's own abort error is not the signal's reason: the loop's first line throws that.
    await sleep(delay, undefined, { signal }).catch(() => {});
    delay = Math.min(delay * 2, MAX_DELAY_MS);
  }
}

/** `attempt`, or the signal's reason as soon as it is aborted; a start that succeeds after that is closed. */
function abortable<T extends { close(): Promise<void> }>(
  attempt: Promise<T>,
  signal: AbortSignal,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      reject(signal.reason);
      attempt.then((late) => late.close()).catch(() => {});
    };
    signal.addEventListener('abort', onAbort, { once: true });
    attempt.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** What the driver said, with its code when the message does not carry it (57P03, unlike ECONNREFUSED). */
function reasonOf(error: StoreUnavailableError): string {
  const { said } = error;
  return error.reason && !said.includes(error.reason) ? `${said} (${error.reason})` : said;
}

const secondsSince = (since: number) => `${Math.round((Date.now() - since) / 1000)}s`;
