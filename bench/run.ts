// `npm run bench`: raw loopback bound, Doorbell (peak and half-peak paced), BullMQ baseline.
// Loopback only, bounded by a global timeout; children and temp files are removed on any exit.
import { parseArgs } from 'node:util';
import { type BullResult, probeRedis, runBullmq } from './bullmq-baseline.ts';
import { cleanupNow, startSink } from './children.ts';
import { type PublishRun, publishRun, startDoorbell } from './doorbell.ts';
import { fmt, nowMs } from './lib.ts';
import { runRaw } from './raw.ts';

const { values: flags } = parseArgs({
  options: {
    events: { type: 'string', default: '20000' },
    endpoints: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '64' },
    'worker-concurrency': { type: 'string', default: '512' },
    warmup: { type: 'string', default: '500' },
    'paced-events': { type: 'string' },
    timeout: { type: 'string', default: '300', description: 'seconds' },
    'skip-bullmq': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  console.log(
    'usage: npm run bench -- [--events 20000] [--endpoints 1] [--concurrency 64] [--worker-concurrency 512]\n' +
      '                        [--warmup 500] [--paced-events events/2] [--timeout 300] [--skip-bullmq]',
  );
  process.exit(0);
}
const int = (name: string, v: string | undefined, min: number): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}`);
  return n;
};
const events = int('events', flags.events, 1);
const endpoints = int('endpoints', flags.endpoints, 1);
const concurrency = int('concurrency', flags.concurrency, 1);
const workerConcurrency = int('worker-concurrency', flags['worker-concurrency'], 1);
const warmup = int('warmup', flags.warmup, 0);
const pacedEvents = int('paced-events', flags['paced-events'] ?? String(Math.ceil(events / 2)), 1);
const timeoutMs = int('timeout', flags.timeout, 10) * 1000;

process.on('exit', cleanupNow);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`bench: ${signal}, stopping`);
    process.exit(130);
  });
}
const deadline = nowMs() + timeoutMs;
const globalTimer = setTimeout(() => {
  console.error(`bench: global timeout of ${timeoutMs / 1000} s reached, stopping`);
  process.exit(2);
}, timeoutMs);
/** Time left for waiting on deliveries, keeping a margin for the phases after it. */
const deliveryBudget = (): number => Math.min(120_000, Math.max(5000, deadline - nowMs() - 30_000));
const log = (line: string): void => console.error(`bench: ${line}`);

const sink = await startSink();
log(`sink on ${sink.url}; raw bound with ${fmt(events)} requests`);
const raw = await runRaw(sink, events, concurrency, warmup);

log('starting doorbell serve');
const server = await startDoorbell(workerConcurrency);
const app = await server.api<{ id: string }>('POST', '/api/v1/app', { name: 'bench' });
for (let k = 0; k < endpoints; k++) {
  await server.api('POST', `/api/v1/app/${app.id}/endpoint`, { url: `${sink.url}/ep/${k}` });
}
const base = { server, sink, appId: app.id, endpoints, concurrency };
if (warmup > 0) {
  log(`doorbell warm-up, ${fmt(warmup)} events`);
  await publishRun({
    ...base,
    events: warmup,
    label: 'doorbell warm-up',
    deliveryTimeoutMs: deliveryBudget(),
  });
}
log(`doorbell peak run, ${fmt(events)} events × ${endpoints} endpoint(s)`);
const cpuBefore = await server.cpuSeconds();
const peak = await publishRun({
  ...base,
  events,
  label: 'doorbell peak',
  deliveryTimeoutMs: deliveryBudget(),
});
const cpuPerDelivery = ((await server.cpuSeconds()) - cpuBefore) / Math.max(1, peak.delivered);
const halfRate = peak.ackPerSec / 2;
log(`doorbell paced run, ${fmt(pacedEvents)} events at ${fmt(halfRate)}/s`);
const half = await publishRun({
  ...base,
  events: pacedEvents,
  rate: halfRate,
  label: 'doorbell paced',
  deliveryTimeoutMs: deliveryBudget(),
});
const rss = await server.peakRssMiB();
const exitCode = await server.stop();
if (exitCode !== 0) log(`doorbell exited with ${exitCode} after SIGTERM (expected 0)`);

let bull: BullResult | undefined;
let bullSkip = flags['skip-bullmq'] ? 'skipped by --skip-bullmq' : await probeRedis();
if (bullSkip === null) {
  log(`bullmq baseline, ${fmt(events)} jobs`);
  try {
    bull = await runBullmq({
      sink,
      events,
      endpoints,
      concurrency,
      workerConcurrency,
      warmup,
      deliveryTimeoutMs: deliveryBudget(),
    });
  } catch (err) {
    bullSkip = `failed: ${(err as Error).message}`;
  }
}
await sink.close();
clearTimeout(globalTimer);

// Report.
const num = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const ms = (n: number): string => `${fmt(n, 1)} ms`;
const partial = (r: { complete: boolean; delivered: number; expected: number }): string =>
  r.complete ? '' : `  INCOMPLETE ${fmt(r.delivered)}/${fmt(r.expected)}`;
const errs = (r: PublishRun): string => (r.errors === 0 ? '' : `  ${r.errors} errors, first ${r.firstError}`);
const vsRaw = peak.deliveriesPerSec / raw.perSecond;
const vsBull = bull === undefined ? Number.NaN : peak.deliveriesPerSec / bull.deliveriesPerSec;
const rows: [string, string][] = [
  [
    'raw loopback bound (undici → sink)',
    `${fmt(raw.perSecond)} req/s${raw.errors ? `  ${raw.errors} errors` : ''}`,
  ],
  ['doorbell publish (202 after commit)', `${fmt(peak.ackPerSec)} ack/s${errs(peak)}`],
  ['doorbell publish latency', `p50 ${ms(peak.publishP50)}  p99 ${ms(peak.publishP99)}`],
  [
    'doorbell end to end',
    `${fmt(peak.deliveriesPerSec)} deliveries/s  (${fmt(vsRaw, 2)}× raw)${partial(peak)}`,
  ],
  ['doorbell time to first delivery', `p50 ${ms(peak.ttfdP50)}  p99 ${ms(peak.ttfdP99)}`],
  [
    `  at half peak (${fmt(halfRate)} msg/s)`,
    `p50 ${ms(half.ttfdP50)}  p99 ${ms(half.ttfdP99)}${partial(half)}${errs(half)}`,
  ],
  ['doorbell duplicates seen by sink', fmt(peak.duplicates + half.duplicates)],
  ['doorbell peak RSS (VmHWM)', `${fmt(rss, 1)} MiB`],
  [
    'doorbell CPU per delivered event',
    `${fmt(cpuPerDelivery * 1e6, 0)} µs (publish + delivery, all threads)`,
  ],
];
if (bull === undefined) rows.push(['bullmq baseline', `not run: ${bullSkip}`]);
else {
  rows.push(['bullmq enqueue (queue.add per event)', `${fmt(bull.enqueuePerSec)} jobs/s`]);
  rows.push(['bullmq end to end', `${fmt(bull.deliveriesPerSec)} deliveries/s${partial(bull)}`]);
  rows.push(['bullmq time to first delivery', `p50 ${ms(bull.ttfdP50)}  p99 ${ms(bull.ttfdP99)}`]);
  rows.push(['doorbell ÷ bullmq (end to end)', `${fmt(vsBull, 2)}×`]);
}
const width = Math.max(...rows.map(([k]) => k.length)) + 2;
console.log(
  `\nDoorbell bench: ${fmt(events)} events × ${endpoints} endpoint(s), 1 KiB JSON, ` +
    `client concurrency ${concurrency}, worker concurrency ${workerConcurrency}, ${fmt(warmup)} warm-up\n`,
);
for (const [k, v] of rows) console.log(`${k.padEnd(width)}${v}`);
console.log(
  `\nsummary: raw=${num(raw.perSecond)} req/s doorbell_publish=${num(peak.ackPerSec)} ack/s ` +
    `doorbell_e2e=${num(peak.deliveriesPerSec)} ev/s (${num(vsRaw, 2)}× raw, ${num(vsBull, 2)}× bullmq) ` +
    `bullmq_e2e=${bull === undefined ? 'n/a' : num(bull.deliveriesPerSec)} ev/s ` +
    `ttfd_p50=${num(peak.ttfdP50, 1)} ms ttfd_p99=${num(peak.ttfdP99, 1)} ms ttfd_p99@half=${num(half.ttfdP99, 1)} ms ` +
    `publish_p50=${num(peak.publishP50, 1)} ms publish_p99=${num(peak.publishP99, 1)} ms rss=${num(rss, 0)} MiB` +
    (peak.complete && half.complete ? '' : ' INCOMPLETE'),
);
