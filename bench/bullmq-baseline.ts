// The naive alternative: one BullMQ job per event (queue.add, same publish concurrency),
// a worker process that POSTs each job to the same sink. Needs Redis at 127.0.0.1:6379.
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { Queue } from 'bullmq';
import {
  awaitDeliveries,
  firstDeliveryTimes,
  forkTs,
  nextMessage,
  type Sink,
  stopChild,
  waitExit,
} from './children.ts';
import { makePayload, nowMs, percentile, runBounded } from './lib.ts';

/** Resolves with null when Redis answers PING, else with the reason it is unusable. */
export function probeRedis(timeoutMs = 1000): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = connect(6379, '127.0.0.1');
    const done = (reason: string | null): void => {
      socket.destroy();
      clearTimeout(timer);
      resolve(reason);
    };
    const timer = setTimeout(() => done('no answer from 127.0.0.1:6379 within 1 s'), timeoutMs);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) =>
      done(d.toString().startsWith('+PONG') ? null : `unexpected reply ${d.toString().trim()}`),
    );
    socket.on('error', (err) => done(`cannot reach Redis at 127.0.0.1:6379 (${err.message})`));
  });
}

export type BullResult = {
  enqueuePerSec: number;
  deliveriesPerSec: number;
  expected: number;
  delivered: number;
  complete: boolean;
  ttfdP50: number;
  ttfdP99: number;
};

export type BullOptions = {
  sink: Sink;
  events: number;
  endpoints: number;
  concurrency: number;
  workerConcurrency: number;
  warmup: number;
  deliveryTimeoutMs: number;
};

export async function runBullmq(o: BullOptions): Promise<BullResult> {
  const name = `doorbell-bench-${randomBytes(6).toString('hex')}`;
  const connection = { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null };
  const queue = new Queue(name, { connection });
  const worker = forkTs('bullmq-worker.ts', [
    name,
    o.sink.url,
    String(o.workerConcurrency),
    String(o.endpoints),
  ]);
  const jobOpts = { attempts: 8, backoff: { type: 'exponential', delay: 5000 }, removeOnComplete: true };
  try {
    await nextMessage(
      worker,
      (m): m is { ready: true } => typeof m === 'object' && m !== null && 'ready' in m,
    );
    const produce = async (prefix: string, count: number): Promise<Map<string, number>> => {
      const startedAt = new Map<string, number>();
      await runBounded(count, o.concurrency, async (i) => {
        const id = `${prefix}${i}`;
        startedAt.set(id, nowMs());
        await queue.add('event', { id, payload: makePayload(i) }, jobOpts);
      });
      return startedAt;
    };
    const drained = (n: number, label: string) => awaitDeliveries(o.sink, n, o.deliveryTimeoutMs, label);

    await o.sink.reset();
    await produce('warm_', o.warmup);
    await drained(o.warmup * o.endpoints, 'bullmq warm-up');
    await o.sink.reset();

    const start = nowMs();
    const startedAt = await produce('bull_', o.events);
    const enqueueSeconds = (nowMs() - start) / 1000;
    const expected = o.events * o.endpoints;
    const complete = await drained(expected, 'bullmq');
    const dump = await o.sink.dump();
    const ttfd = firstDeliveryTimes(startedAt, dump);
    return {
      enqueuePerSec: o.events / enqueueSeconds,
      deliveriesPerSec: dump.unique / ((dump.lastAt - start) / 1000),
      expected,
      delivered: dump.unique,
      complete,
      ttfdP50: percentile(ttfd, 50),
      ttfdP99: percentile(ttfd, 99),
    };
  } finally {
    if (worker.connected) worker.send({ op: 'stop' });
    if (!(await waitExit(worker, 5000))) await stopChild(worker, 2000);
    await queue.obliterate({ force: true });
    await queue.close();
  }
}
