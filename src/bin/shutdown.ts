// How `doorbell serve` stops on SIGTERM or SIGINT: it drains attempts in flight, within a limit.

import { constants } from 'node:os';
import { formatDuration } from '../core/duration.ts';

/** What a started server hands to the signal handler. */
export interface Stoppable {
  /** Stops accepting work and drains attempts in flight. */
  close(): Promise<void>;
  inFlight(): Promise<number>;
}

/** What the drain says when it runs out of time; `inFlight` is null when the count could not be had. */
export function drainGaveUp(drainMs: number, inFlight: number | null, leaseMs: number): string {
  const timedOut = `doorbell: drain timed out after ${formatDuration(drainMs)}`;
  const lease = `lease expires (at most ${formatDuration(leaseMs)} from now)`;
  if (inFlight === null) return `${timedOut}; any attempt still in flight is retried once its ${lease}`;
  if (inFlight === 0)
    return `${timedOut} with no attempt in flight; the server or the database did not close in time`;
  if (inFlight === 1) return `${timedOut} with 1 attempt still in flight; it is retried once its ${lease}`;
  return `${timedOut} with ${inFlight} attempts still in flight; they are retried once their ${lease}`;
}

// One Ctrl-C can arrive twice at once: from the terminal, to the whole process group, and relayed by npm
// (`npm start`). A second signal this soon after the first is that echo, not a second press.
const ECHO_MS = 250;

/**
 * The first SIGTERM or SIGINT drains attempts in flight and exits 0, or 1 with what was left if the drain
 * takes longer than `drainMs`; a second signal exits at once, with 128 + its number (130 for Ctrl-C).
 * Nothing is lost then: an interrupted attempt's task keeps its lease, and a worker claims it again once
 * the lease (`leaseMs`) expires. Until `started()` is called (the database open, the server listening),
 * the first signal also aborts `starting`: a start waiting for its database gives up, and hands over a
 * server with nothing to stop.
 */
export function handleSignals(
  stopping: Promise<Stoppable>,
  limits: { drainMs: number; leaseMs: number },
  starting: AbortController,
): { started(): void } {
  let up = false;
  let drainingSince: number | null = null;
  const stop = (signal: 'SIGTERM' | 'SIGINT') => {
    if (drainingSince !== null) {
      if (Date.now() - drainingSince < ECHO_MS) return;
      console.error(
        `doorbell: ${signal} again: delivery interrupted; unfinished attempts are retried once their lease expires`,
      );
      process.exit(128 + constants.signals[signal]);
    }
    drainingSince = Date.now();
    if (up) {
      console.error(`doorbell: ${signal}: draining attempts in flight…`);
    } else {
      console.error(`doorbell: ${signal} while starting: stopping…`);
      starting.abort();
    }
    const giveUp = setTimeout(() => {
      void inFlightNow(stopping).then((count) => {
        console.error(drainGaveUp(limits.drainMs, count, limits.leaseMs));
        process.exit(1);
      });
    }, limits.drainMs);
    giveUp.unref();
    stopping
      .then((server) => server.close())
      .then(() => {
        console.error('doorbell: stopped');
        process.exit(0);
      })
      .catch((error: unknown) => {
        console.error('doorbell: error while stopping:', error);
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return {
    started: () => {
      up = true;
    },
  };
}

/** The count of attempts in flight, or null if the server has not started or does not answer within 1 s. */
function inFlightNow(stopping: Promise<Stoppable>): Promise<number | null> {
  const late = new Promise<null>((resolve) => setTimeout(() => resolve(null), 1000));
  const count = stopping.then((server) => server.inFlight()).catch(() => null);
  return Promise.race([count, late]);
}
