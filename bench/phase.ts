// One Doorbell phase of the benchmark: warm-up, peak (unpaced) run, paced run at half the peak.
import { machineCpu, type Sink } from './children.ts';
import { type DoorbellServer, type PublishRun, publishRun } from './doorbell.ts';
import { fmt } from './lib.ts';
import { cpuBetween } from './postgres.ts';

export type PhaseOptions = {
  server: DoorbellServer;
  sink: Sink;
  /** Prefix of the progress lines, e.g. 'doorbell'. */
  label: string;
  endpoints: number;
  events: number;
  pacedEvents: number;
  warmup: number;
  concurrency: number;
  /** Milliseconds each wait for deliveries may take, asked before each run. */
  deliveryBudget: () => number;
  /** CPU seconds used so far by the load generator (this process) and the sink. */
  harnessCpu: () => Promise<number>;
  /** CPU per database server backend, when the database runs on this host (PostgreSQL). */
  backendCpu?: () => Promise<Map<number, number>>;
};

export type PhaseResult = {
  processes: number;
  peak: PublishRun;
  half: PublishRun;
  halfRate: number;
  /** Seconds of CPU per delivered event during the peak run, summed over the Doorbell processes. */
  cpuPerDelivery: number;
  /** Same, during the paced run at half the peak rate (smaller batches cost more per event). */
  cpuPerDeliveryAtHalf: number;
  /** Same, for the database server's backends; NaN when not measured. */
  dbCpuPerDelivery: number;
  /** Same, for the load generator and the sink. */
  harnessCpuPerDelivery: number;
  /** Share of the machine's CPU (all cores) busy during the peak run, whoever used it. */
  machineBusy: number;
  rss: { sum: number; max: number };
};

const log = (line: string): void => console.error(`bench: ${line}`);

/** Runs the phase against a started deployment and stops it, also when a run throws. */
export async function runPhase(o: PhaseOptions): Promise<PhaseResult> {
  const { server, label } = o;
  try {
    const app = await server.api<{ id: string }>('POST', '/api/v1/app', { name: 'bench' });
    for (let k = 0; k < o.endpoints; k++) {
      await server.api('POST', `/api/v1/app/${app.id}/endpoint`, { url: `${o.sink.url}/ep/${k}` });
    }
    const base = { server, sink: o.sink, appId: app.id, endpoints: o.endpoints, concurrency: o.concurrency };
    if (o.warmup > 0) {
      log(`${label} warm-up, ${fmt(o.warmup)} events`);
      await publishRun({
        ...base,
        events: o.warmup,
        label: `${label} warm-up`,
        deliveryTimeoutMs: o.deliveryBudget(),
      });
    }
    log(`${label} peak run, ${fmt(o.events)} events × ${o.endpoints} endpoint(s)`);
    const cpuBefore = await server.cpuSeconds();
    const dbBefore = await o.backendCpu?.();
    const harnessBefore = await o.harnessCpu();
    const machineBefore = await machineCpu();
    const peak = await publishRun({
      ...base,
      events: o.events,
      label: `${label} peak`,
      deliveryTimeoutMs: o.deliveryBudget(),
    });
    const delivered = Math.max(1, peak.delivered);
    const cpuPerDelivery = ((await server.cpuSeconds()) - cpuBefore) / delivered;
    const harnessCpuPerDelivery = ((await o.harnessCpu()) - harnessBefore) / delivered;
    const machineAfter = await machineCpu();
    const machineBusy = (machineAfter.busy - machineBefore.busy) / (machineAfter.all - machineBefore.all);
    const dbAfter = await o.backendCpu?.();
    const dbCpuPerDelivery = dbBefore && dbAfter ? cpuBetween(dbBefore, dbAfter) / delivered : Number.NaN;
    // Half the peak rate of what was delivered end to end (which may lag the publish rate, as on
    // PostgreSQL): the paced run then measures latency, not a backlog growing by the minute.
    const halfRate = Math.min(peak.ackPerSec, peak.deliveriesPerSec) / 2;
    log(`${label} paced run, ${fmt(o.pacedEvents)} events at ${fmt(halfRate)}/s`);
    const cpuBeforeHalf = await server.cpuSeconds();
    const half = await publishRun({
      ...base,
      events: o.pacedEvents,
      rate: halfRate,
      label: `${label} paced`,
      deliveryTimeoutMs: o.deliveryBudget(),
    });
    const cpuPerDeliveryAtHalf = ((await server.cpuSeconds()) - cpuBeforeHalf) / Math.max(1, half.delivered);
    const rss = await server.peakRssMiB();
    return {
      processes: server.pids.length,
      peak,
      half,
      halfRate,
      cpuPerDelivery,
      cpuPerDeliveryAtHalf,
      dbCpuPerDelivery,
      harnessCpuPerDelivery,
      machineBusy,
      rss,
    };
  } finally {
    const codes = await server.stop();
    const bad = codes.filter((c) => c !== 0);
    if (bad.length > 0) log(`${label} exited with ${bad.join(', ')} after SIGTERM (expected 0)`);
  }
}

// Side-by-side report of several phases.

export type Column = { title: string; result: PhaseResult | string };

const ms = (n: number): string => `${fmt(n, 1)} ms`;
const us = (seconds: number): string => `${fmt(seconds * 1e6, 0)} µs`;

/** Lines of a table with one column per phase; a failed phase shows its reason under the table. */
export function sideBySide(columns: readonly Column[], rawPerSec: number): string[] {
  const cell = (f: (r: PhaseResult) => string) =>
    columns.map(({ result }) => (typeof result === 'string' ? 'failed' : f(result)));
  const rows: [string, string[]][] = [
    ['', columns.map((c) => c.title)],
    ['Doorbell processes', cell((r) => String(r.processes))],
    ['publish (202 after commit)', cell((r) => `${fmt(r.peak.ackPerSec)} ack/s`)],
    ['publish latency p50', cell((r) => ms(r.peak.publishP50))],
    ['publish latency p99', cell((r) => ms(r.peak.publishP99))],
    ['end to end', cell((r) => `${fmt(r.peak.deliveriesPerSec)} deliveries/s`)],
    ['ratio to raw', cell((r) => `${fmt(r.peak.deliveriesPerSec / rawPerSec, 2)}×`)],
    ['time to first delivery p50', cell((r) => ms(r.peak.ttfdP50))],
    ['time to first delivery p99', cell((r) => ms(r.peak.ttfdP99))],
    ['  p99 at half peak', cell((r) => `${ms(r.half.ttfdP99)} @ ${fmt(r.halfRate)}/s`)],
    ['CPU per event, Doorbell (sum)', cell((r) => us(r.cpuPerDelivery))],
    [
      'CPU per event, database server',
      cell((r) => (Number.isFinite(r.dbCpuPerDelivery) ? us(r.dbCpuPerDelivery) : 'in process')),
    ],
    ['peak RSS, sum (largest)', cell((r) => `${fmt(r.rss.sum, 0)} (${fmt(r.rss.max, 0)}) MiB`)],
    ['duplicates seen by sink', cell((r) => fmt(r.peak.duplicates + r.half.duplicates))],
    ['all delivered, no errors', cell((r) => (clean(r) ? 'yes' : problems(r)))],
  ];
  const widths = [Math.max(...rows.map(([k]) => k.length)) + 2];
  columns.forEach((_, i) => {
    widths.push(Math.max(...rows.map(([, v]) => (v[i] ?? '').length)) + 3);
  });
  const lines = rows.map(
    ([k, v]) => k.padEnd(widths[0]!) + v.map((c, i) => c.padEnd(widths[i + 1]!)).join(''),
  );
  for (const { title, result } of columns) if (typeof result === 'string') lines.push(`${title}: ${result}`);
  return lines.map((l) => l.trimEnd());
}

const clean = (r: PhaseResult): boolean =>
  r.peak.complete && r.half.complete && r.peak.errors === 0 && r.half.errors === 0;

function problems(r: PhaseResult): string {
  const missing = r.peak.expected - r.peak.delivered + (r.half.expected - r.half.delivered);
  return `no: ${fmt(missing)} missing, ${r.peak.errors + r.half.errors} errors`;
}

/** `key=value` fields of one phase for the summary line, each key starting with `prefix`. */
export function summaryFields(prefix: string, result: PhaseResult | string, rawPerSec: number): string {
  if (typeof result === 'string') return `${prefix}=failed`;
  const n = (v: number, digits = 0): string => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');
  const { peak, half } = result;
  return (
    `${prefix}_publish=${n(peak.ackPerSec)} ack/s ${prefix}_e2e=${n(peak.deliveriesPerSec)} ev/s ` +
    `(${n(peak.deliveriesPerSec / rawPerSec, 2)}× raw) ${prefix}_ttfd_p50=${n(peak.ttfdP50, 1)} ms ` +
    `${prefix}_ttfd_p99=${n(peak.ttfdP99, 1)} ms ${prefix}_ttfd_p99@half=${n(half.ttfdP99, 1)} ms ` +
    `${prefix}_publish_p50=${n(peak.publishP50, 1)} ms ${prefix}_publish_p99=${n(peak.publishP99, 1)} ms ` +
    `${prefix}_rss_sum=${n(result.rss.sum)} MiB` +
    (clean(result) ? '' : ` ${prefix}=INCOMPLETE`)
  );
}
