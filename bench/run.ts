// `npm run bench`: raw loopback bound, relay bound, Doorbell (peak and half-peak paced), BullMQ baseline; with
// --postgres also Doorbell on PostgreSQL, as one process and as one API process + N worker processes.
// Loopback only, bounded by a global timeout; children, temp files and temp databases are removed on any exit.
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { type BullResult, probeRedis, runBullmq } from './bullmq-baseline.ts';
import { cleanupNow, cpuSeconds, startRelay, startSink } from './children.ts';
import { type DoorbellServer, type PublishRun, publishRun, startDoorbell } from './doorbell.ts';
import { fmt, nowMs } from './lib.ts';
import { type Column, type PhaseResult, runPhase, sideBySide, summaryFields } from './phase.ts';
import { type BenchDatabase, createBenchDatabase, probePostgres } from './postgres.ts';
import { runRaw } from './raw.ts';

const { values: flags } = parseArgs({
  options: {
    events: { type: 'string', default: '20000' },
    endpoints: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '64' },
    'worker-concurrency': { type: 'string', default: '512' },
    warmup: { type: 'string', default: '5000' },
    'paced-events': { type: 'string' },
    timeout: { type: 'string', description: 'seconds; default 300, 600 with --postgres' },
    'skip-bullmq': { type: 'boolean', default: false },
    postgres: { type: 'string', description: 'server URL; the bench uses a temp database on it' },
    workers: { type: 'string', description: 'worker processes beside one API process; default 2' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  console.log(
    'usage: npm run bench -- [--events 20000] [--endpoints 1] [--concurrency 64] [--worker-concurrency 512]\n' +
      '                        [--warmup 5000] [--paced-events events/2] [--timeout 300] [--skip-bullmq]\n' +
      '                        [--postgres postgres://postgres@127.0.0.1:5432/postgres [--workers 2]]',
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
const postgres = flags.postgres;
if (flags.workers !== undefined && postgres === undefined)
  throw new Error('--workers needs --postgres (SQLite runs a single process)');
const workers = int('workers', flags.workers ?? '2', 1);
const timeoutMs = int('timeout', flags.timeout ?? (postgres === undefined ? '300' : '600'), 10) * 1000;
if (postgres !== undefined) {
  const unusable = await probePostgres(postgres);
  if (unusable !== null) throw new Error(unusable);
}

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

/** CPU seconds used so far by the load generator (this process, which also waits and reports) and the sink. */
const harnessCpu = async (): Promise<number> => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6 + (await cpuSeconds(sink.pid));
};

log(`relay bound with ${fmt(events)} events`);
const relayServer = await startRelay(sink);
const relayRun = (n: number, label: string): Promise<PublishRun> =>
  publishRun({
    server: { url: relayServer.url, authHeaders: {} },
    sink,
    appId: 'relay',
    endpoints: 1,
    events: n,
    concurrency,
    deliveryTimeoutMs: deliveryBudget(),
    label,
  });
/** A measured relay run, with the relay's CPU seconds during it. */
const relayMeasured = async (label: string): Promise<PublishRun & { cpu: number }> => {
  const before = await cpuSeconds(relayServer.pid);
  const run = await relayRun(events, label);
  return { ...run, cpu: (await cpuSeconds(relayServer.pid)) - before };
};
await relayRun(warmup, 'relay warm-up');
// Run again after Doorbell's phase: the machine's speed drifts within a run, and Doorbell is compared
// with the mean of the two (both are printed).
const relayBefore = await relayMeasured('relay');

log('starting doorbell serve');
const phase = async (server: DoorbellServer, label: string, db?: BenchDatabase): Promise<PhaseResult> =>
  runPhase({
    server,
    sink,
    label,
    endpoints,
    events,
    pacedEvents,
    warmup,
    concurrency,
    deliveryBudget,
    harnessCpu,
    ...(db === undefined ? {} : { backendCpu: db.backendCpu }),
  });
const sqlite = await phase(await startDoorbell({ workerConcurrency }), 'doorbell');
const {
  peak,
  half,
  halfRate,
  cpuPerDelivery,
  cpuPerDeliveryAtHalf,
  harnessCpuPerDelivery,
  machineBusy,
  rss,
} = sqlite;
const relayAfter = await relayMeasured('relay after doorbell');
await relayServer.close();
const relayRate = (relayBefore.deliveriesPerSec + relayAfter.deliveriesPerSec) / 2;
const relayCpuPerDelivery =
  (relayBefore.cpu + relayAfter.cpu) / Math.max(1, relayBefore.delivered + relayAfter.delivered);

/** The PostgreSQL phases, each on a fresh temp database that is dropped after it. */
const pgRuns: Column[] = [];
if (postgres !== undefined) {
  const setups = [
    { title: 'PostgreSQL (1 process, role all)', label: 'postgres all', workers: 0 },
    { title: `PostgreSQL (1 API + ${workers} workers)`, label: `postgres api+${workers}w`, workers },
  ];
  for (const setup of setups) {
    let result: PhaseResult | string;
    let db: BenchDatabase | undefined;
    try {
      db = await createBenchDatabase(postgres);
      log(`starting ${setup.label} on database ${db.name}`);
      const server = await startDoorbell({ workerConcurrency, database: db.url, workers: setup.workers });
      result = await phase(server, setup.label, db);
    } catch (err) {
      result = `failed: ${(err as Error).message.split('\n')[0]}`;
      log(`${setup.label} ${result}`);
    } finally {
      await db?.drop().catch((err: Error) => log(`dropping ${db?.name}: ${err.message}`));
    }
    pgRuns.push({ title: setup.title, result });
  }
}

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
const us = (seconds: number): string => `${fmt(seconds * 1e6, 0)} µs`;
const cores = availableParallelism();
const vsRaw = peak.deliveriesPerSec / raw.perSecond;
const vsRelay = peak.deliveriesPerSec / relayRate;
const rssMiB = rss.sum; // one process
const vsBull = bull === undefined ? Number.NaN : peak.deliveriesPerSec / bull.deliveriesPerSec;
const rows: [string, string][] = [
  [
    'raw loopback bound (undici → sink)',
    `${fmt(raw.perSecond)} req/s${raw.errors ? `  ${raw.errors} errors` : ''}`,
  ],
  [
    'relay bound (HTTP in → 202 → HTTP out)',
    `${fmt(relayRate)} deliveries/s (${fmt(relayBefore.deliveriesPerSec)} before Doorbell, ${fmt(relayAfter.deliveriesPerSec)} after), ` +
      `nothing stored, ${us(relayCpuPerDelivery)} CPU per event` +
      [relayBefore, relayAfter].map((r) => `${partial(r)}${errs(r)}`).join(''),
  ],
  ['doorbell publish (202 after commit)', `${fmt(peak.ackPerSec)} ack/s${errs(peak)}`],
  ['doorbell publish latency', `p50 ${ms(peak.publishP50)}  p99 ${ms(peak.publishP99)}`],
  [
    'doorbell end to end',
    `${fmt(peak.deliveriesPerSec)} deliveries/s  (${fmt(vsRaw, 2)}× raw, ${fmt(vsRelay, 2)}× relay)${partial(peak)}`,
  ],
  ['doorbell time to first delivery', `p50 ${ms(peak.ttfdP50)}  p99 ${ms(peak.ttfdP99)}`],
  [
    `  at half peak (${fmt(halfRate)} msg/s)`,
    `p50 ${ms(half.ttfdP50)}  p99 ${ms(half.ttfdP99)}${partial(half)}${errs(half)}`,
  ],
  ['doorbell duplicates seen by sink', fmt(peak.duplicates + half.duplicates)],
  ['doorbell peak RSS (VmHWM)', `${fmt(rssMiB, 1)} MiB`],
  [
    'doorbell CPU per delivered event',
    `${us(cpuPerDelivery)} (publish + delivery, all threads); ${us(cpuPerDeliveryAtHalf)} at half peak`,
  ],
  [
    'machine CPU during doorbell peak',
    `${fmt(machineBusy * 100)} % busy of ${cores} cores; load generator + sink ${us(harnessCpuPerDelivery)} per event`,
  ],
];
if (bull === undefined) rows.push(['bullmq baseline', `not run: ${bullSkip}`]);
else {
  rows.push(['bullmq enqueue (queue.add per event)', `${fmt(bull.enqueuePerSec)} jobs/s`]);
  rows.push(['bullmq end to end', `${fmt(bull.deliveriesPerSec)} deliveries/s${partial(bull)}`]);
  rows.push(['bullmq time to first delivery', `p50 ${ms(bull.ttfdP50)}  p99 ${ms(bull.ttfdP99)}`]);
  rows.push(['doorbell ÷ bullmq (end to end)', `${fmt(vsBull, 2)}×`]);
}
// The targets set for this machine, each beside the relay bound of the same run: what any HTTP-in,
// HTTP-out service reaches here with nothing stored, so a target above it is out of reach of this run.
const met = (ok: boolean): string => (ok ? 'met' : 'NOT met');
// At `rate` events/s the machine's cores give each event cores/rate of CPU; the load generator and the
// sink take their share of it first (as measured in the Doorbell peak run), Doorbell may use the rest.
const budget = (rate: number): string =>
  `at ${fmt(rate)}/s Doorbell may use ${us(cores / rate - harnessCpuPerDelivery)} per event (uses ${us(cpuPerDelivery)})`;
const relayVsBull = bull === undefined ? Number.NaN : relayRate / bull.deliveriesPerSec;
rows.push(
  [
    'target ≥ 10,000 deliveries/s',
    `${met(peak.deliveriesPerSec >= 10_000)}: ${fmt(peak.deliveriesPerSec)}/s; the relay bound ${fmt(relayRate)}/s; ` +
      `${budget(10_000)}`,
  ],
  [
    'target ≥ 1.5× bullmq',
    bull === undefined
      ? 'n/a: bullmq not run'
      : `${met(vsBull >= 1.5)}: ${fmt(vsBull, 2)}×; the relay bound ${fmt(relayVsBull, 2)}×; ` +
        `${budget(1.5 * bull.deliveriesPerSec)}`,
  ],
  ['target ttfd p99 < 50 ms at half peak', `${met(half.ttfdP99 < 50)}: ${ms(half.ttfdP99)}`],
);
const width = Math.max(...rows.map(([k]) => k.length)) + 2;
console.log(
  `\nDoorbell bench: ${fmt(events)} events × ${endpoints} endpoint(s), 1 KiB JSON, ` +
    `client concurrency ${concurrency}, worker concurrency ${workerConcurrency}, ${fmt(warmup)} warm-up\n`,
);
for (const [k, v] of rows) console.log(`${k.padEnd(width)}${v}`);
if (pgRuns.length > 0) {
  console.log(
    '\nSQLite vs PostgreSQL (CPU and RSS summed over the Doorbell processes; the database server apart)\n',
  );
  const columns = [{ title: 'SQLite (1 process)', result: sqlite }, ...pgRuns];
  for (const line of sideBySide(columns, raw.perSecond)) console.log(line);
}
console.log(
  `\nsummary: raw=${num(raw.perSecond)} req/s relay=${num(relayRate)} ev/s ` +
    `(${num(relayBefore.deliveriesPerSec)} before, ${num(relayAfter.deliveriesPerSec)} after) ` +
    `doorbell_publish=${num(peak.ackPerSec)} ack/s doorbell_e2e=${num(peak.deliveriesPerSec)} ev/s ` +
    `(${num(vsRaw, 2)}× raw, ${num(vsRelay, 2)}× relay, ${num(vsBull, 2)}× bullmq) ` +
    `bullmq_e2e=${bull === undefined ? 'n/a' : num(bull.deliveriesPerSec)} ev/s ` +
    `ttfd_p50=${num(peak.ttfdP50, 1)} ms ttfd_p99=${num(peak.ttfdP99, 1)} ms ttfd_p99@half=${num(half.ttfdP99, 1)} ms ` +
    `publish_p50=${num(peak.publishP50, 1)} ms publish_p99=${num(peak.publishP99, 1)} ms rss=${num(rssMiB, 0)} MiB` +
    (peak.complete && half.complete ? '' : ' INCOMPLETE') +
    pgRuns
      .map((c, i) => ` ${summaryFields(i === 0 ? 'pg_all' : `pg_${workers}w`, c.result, raw.perSecond)}`)
      .join(''),
);
