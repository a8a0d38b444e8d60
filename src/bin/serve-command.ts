import { makeConfig, type Role } from '../config/config.ts';
import { formatDuration, parseDuration, parseSchedule } from '../core/duration.ts';
import { parseCidrs } from '../core/ssrf.ts';
import { leaseDuration } from '../delivery/worker.ts';
import { demoToken, demoTokenFile, startDemo } from './demo.ts';
import { integerFlag, parsedFlag, UsageError, withoutEmpty } from './flags.ts';
import { isPostgres, shownDatabase } from './open-store.ts';
import { startDoorbell, startWorker } from './serve.ts';
import { handleSignals, type Stoppable } from './shutdown.ts';
import { untilReachable } from './wait-for-database.ts';

export interface ServeOptions {
  port?: string;
  host?: string;
  database?: string;
  allowSubnets?: string;
  retrySchedule?: string;
  attemptTimeout?: string;
  concurrency?: string;
  poolSize?: string;
  retention?: string;
  autoDisableAfter?: string;
  publicUrl?: string;
  role?: string;
  drainTimeout?: string;
  demo?: boolean;
}

const ROLES: readonly Role[] = ['api', 'worker', 'all'];
/**
 * How long SIGTERM or Ctrl-C waits for attempts in flight: the default attempt deadline (15 s), and room,
 * below Kubernetes' default grace period (30 s) so that the process reports a cut-short drain itself.
 */
const DRAIN_MS = 25_000;

function role(value: string | undefined): Role {
  if (value === undefined) return 'all';
  if ((ROLES as readonly string[]).includes(value)) return value as Role;
  throw new UsageError(`--role must be one of ${ROLES.join(', ')}, got '${value}'`);
}

/**
 * Checked before anything starts: the API and delivery parse the list again, once the database is open
 * and the port taken, where an error could no longer name the flag. Returned as what each entry opens.
 */
function allowSubnets(value: string | undefined): string[] {
  const entries = (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return parsedFlag('--allow-subnets', value ?? '', () => parseCidrs(entries)).map((cidr) => cidr.text);
}

/** The first attempt is sent as soon as the message is committed, so the schedule starts with 0. */
function retrySchedule(value: string): number[] {
  const delays = parsedFlag('--retry-schedule', value, parseSchedule);
  if (delays[0] !== 0)
    throw new UsageError(
      `--retry-schedule must start with 0 (the first attempt is immediate), got '${value}'`,
    );
  return delays;
}

/** The longest delay a Node.js timer takes (about 24.8 days); a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A zero attempt deadline would fail every attempt before it is sent; a zero retention would expire
 * payloads as soon as they are stored. The attempt deadline and the drain are timers.
 */
function positiveDuration(
  flag: '--attempt-timeout' | '--retention' | '--drain-timeout',
  value: string,
): number {
  const ms = parsedFlag(flag, value, parseDuration);
  if (ms <= 0) throw new UsageError(`${flag} must be longer than 0, got '${value}'`);
  if (flag !== '--retention' && ms > MAX_TIMER_MS)
    throw new UsageError(`${flag} must be at most ${MAX_TIMER_MS} ms (about 24.8 days), got '${value}'`);
  return ms;
}

/**
 * How long an endpoint fails continuously before it is disabled. 0 turns that off (a 410 Gone still
 * disables): a zero period would otherwise disable an endpoint at its first failure. Compared with the
 * length of a run, never used as a timer, so it has no upper bound.
 */
function autoDisableAfter(value: string): number {
  const ms = parsedFlag('--auto-disable-after', value, parseDuration);
  if (ms > 0) return ms;
  // Below a millisecond rounds to 0: not a request for never.
  if (Number.parseFloat(value) !== 0)
    throw new UsageError(`--auto-disable-after must be 0 (never) or at least 1ms, got '${value}'`);
  return Number.POSITIVE_INFINITY;
}

/**
 * App-portal links are built on it (`<url>/portal/<app>#token=…`): a query or fragment would break them,
 * and credentials would be handed to every portal user.
 */
function publicUrl(value: string): string {
  const url = URL.canParse(value) ? new URL(value) : null;
  if (url?.protocol !== 'http:' && url?.protocol !== 'https:')
    throw new UsageError(`--public-url must be an absolute http:// or https:// URL, got '${value}'`);
  if (url.username || url.password || /[?#]/.test(value))
    throw new UsageError(
      `--public-url must not have credentials, a query string or a fragment, got '${value}'`,
    );
  return value;
}

/**
 * DOORBELL_ADMIN_TOKEN as clients will send it, in an Authorization header: a token with a space or a
 * character outside printable ASCII could never be sent, and would still replace the working one.
 */
function adminTokenOf(value: string | undefined): string | null {
  if (!value) return null;
  if (!/^[\x21-\x7e]+$/.test(value)) {
    throw new UsageError(
      'DOORBELL_ADMIN_TOKEN must be printable ASCII without spaces: clients send it in an Authorization header',
    );
  }
  return value;
}

/** --demo, or its twin DOORBELL_DEMO (1, true, 0 or false; empty is unset); the flag wins. */
function demo(flag: boolean | undefined, env: string | undefined): boolean {
  if (flag) return true;
  if (env === undefined || env === '' || env === '0' || env === 'false') return false;
  if (env === '1' || env === 'true') return true;
  throw new UsageError(`DOORBELL_DEMO must be 1, true, 0 or false, got '${env}'`);
}

/** A file path (SQLite) or a postgres:// URL: another URL is refused, not taken for a folder 'mysql:'. */
function database(value: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) && !isPostgres(value)) {
    throw new UsageError(`--database must be a file path or a postgres:// URL, got '${value}'`);
  }
  if (isPostgres(value) && !URL.canParse(value)) {
    // A user with no host (postgres://me@/db) is not a URL: the host may be left out only with the user.
    throw new UsageError(
      `--database is not a valid URL: '${value}' (a Unix socket is written postgresql:///db?host=/run/postgresql&user=me)`,
    );
  }
  return value;
}

export async function serveCommand(given: ServeOptions): Promise<void> {
  const options = withoutEmpty(given);
  const allowed = allowSubnets(options.allowSubnets);
  const isDemo = demo(options.demo, process.env.DOORBELL_DEMO);
  let adminToken = adminTokenOf(process.env.DOORBELL_ADMIN_TOKEN);
  const base = makeConfig();
  if (isDemo) {
    if (!allowed.includes('127.0.0.0/8')) allowed.push('127.0.0.0/8');
    // The demo prints a working command at every start, so it keeps its token where it can show it again.
    adminToken ??= demoToken(options.database ?? base.database);
  }
  const config = makeConfig({
    role: role(options.role),
    host: options.host ?? base.host,
    port: options.port === undefined ? base.port : integerFlag('--port', options.port, 0, 65535),
    database: options.database === undefined ? base.database : database(options.database),
    poolSize: options.poolSize ? integerFlag('--pool-size', options.poolSize, 1, 1000) : base.poolSize,
    adminToken,
    publicUrl: options.publicUrl ? publicUrl(options.publicUrl) : null,
    retentionMs: options.retention ? positiveDuration('--retention', options.retention) : base.retentionMs,
    delivery: {
      allowSubnets: allowed,
      ...(options.retrySchedule ? { retrySchedule: retrySchedule(options.retrySchedule) } : {}),
      ...(options.attemptTimeout
        ? { attemptTimeoutMs: positiveDuration('--attempt-timeout', options.attemptTimeout) }
        : {}),
      ...(options.concurrency ? { concurrency: integerFlag('--concurrency', options.concurrency, 1) } : {}),
      ...(options.autoDisableAfter ? { autoDisableAfterMs: autoDisableAfter(options.autoDisableAfter) } : {}),
    },
  });

  if (config.role !== 'all' && !isPostgres(config.database)) {
    throw new UsageError(
      `--role must be all on SQLite, where one process serves the file: ${config.role} needs a postgres:// --database`,
    );
  }
  if (options.poolSize && !isPostgres(config.database)) {
    throw new UsageError('--pool-size needs a postgres:// --database: SQLite is served by one connection');
  }

  // The last retry comes this long after a publish at the latest: each delay after the first stretched by
  // its jitter and then doubled by a Retry-After, or raised to the penalty after a timeout or a 429.
  const { jitter, penaltyMs } = config.delivery;
  const scheduled = config.delivery.retrySchedule.reduce((sum, delay) => sum + delay, 0);
  const latest = config.delivery.retrySchedule.reduce(
    (sum, delay, i) => sum + (i === 0 ? delay : Math.max(2 * delay * (1 + jitter), penaltyMs)),
    0,
  );
  // As a reader takes a sum of delays in: exact under an hour or in whole hours (42s, 2h), else in
  // hours (27.6h, not 99305s).
  const roughly = (ms: number) =>
    ms < 3_600_000 || ms % 3_600_000 === 0 ? formatDuration(ms) : `${(ms / 3_600_000).toFixed(1)}h`;
  if (config.retentionMs < latest) {
    console.error(
      `doorbell: --retention ${formatDuration(config.retentionMs)} is shorter than the retries may last (${roughly(scheduled)} as scheduled, up to ${roughly(latest)} with jitter, Retry-After and timeouts): a retry after a payload's retention fails unsent`,
    );
  }
  const { concurrency } = config.delivery;
  if (concurrency < 16 && config.role !== 'api') {
    console.error(
      `doorbell: --concurrency ${concurrency} is below 16: the slots kept for other endpoints (an eighth) are too few to share, and endpoints that hang, all of one application's, can hold every slot`,
    );
  }
  if (adminToken && adminToken.length < 16 && !isDemo) {
    console.error(
      `doorbell: DOORBELL_ADMIN_TOKEN has ${adminToken.length} characters: whoever guesses it administers Doorbell; use 32 random ones or more`,
    );
  }

  // Signals are handled from the start: one that arrives while starting stops the server once it is up,
  // or ends the wait for a PostgreSQL database that cannot be reached yet.
  const starting = new AbortController();
  let closeWhenUp!: (server: Stoppable) => void;
  const signals = handleSignals(
    new Promise((resolve) => (closeWhenUp = resolve)),
    {
      drainMs: options.drainTimeout ? positiveDuration('--drain-timeout', options.drainTimeout) : DRAIN_MS,
      leaseMs: leaseDuration(config.delivery),
    },
    starting,
  );
  // A database that cannot be reached yet is waited for (PostgreSQL only: a SQLite file is this process's).
  const waiting = { where: shownDatabase(config.database), signal: starting.signal };
  const start = <T extends { close(): Promise<void> }>(run: () => Promise<T>) =>
    unlessStopped(isPostgres(config.database) ? untilReachable(run, waiting) : run(), starting.signal);
  if (config.role === 'worker') {
    const worker = await start(() => startWorker(config));
    signals.started();
    if (worker) console.error(`Doorbell worker started (database: ${shownDatabase(config.database)})`);
    closeWhenUp(worker ?? NOTHING_STARTED);
    return;
  }
  const running = await start(() => startDoorbell(config));
  signals.started();
  if (!running) return closeWhenUp(NOTHING_STARTED);
  console.error(`Doorbell ${config.role === 'api' ? 'API (no delivery) ' : ''}listening on ${running.url}`);
  console.error(`  database: ${shownDatabase(config.database)}`);
  if (allowed.length > 0) console.error(`  deliveries may reach: ${allowed.join(', ')} (--allow-subnets)`);
  if (running.generatedToken) {
    console.error(`  admin token (shown once, stored only as a hash): ${running.generatedToken}`);
  } else if (isDemo && !process.env.DOORBELL_ADMIN_TOKEN) {
    const where =
      config.database === ':memory:' ? 'made for this start' : `kept in ${demoTokenFile(config.database)}`;
    console.error(`  admin token: the demo's, ${where}, as below`);
  } else if (!adminToken) {
    console.error(
      '  admin token: the last one printed (the first start and each demo start print one), or the DOORBELL_ADMIN_TOKEN given since (only its hash is kept); set DOORBELL_ADMIN_TOKEN to replace it',
    );
  }
  let stopDemo = async () => {};
  if (isDemo && adminToken) stopDemo = await startDemo(running, adminToken);
  closeWhenUp({
    close: () => Promise.all([stopDemo(), running.close()]).then(() => {}),
    inFlight: running.inFlight,
  });
}

const NOTHING_STARTED: Stoppable = { close: async () => {}, inFlight: async () => 0 };

/** What `start` gives, or null when a signal ended it while it waited for the database. */
async function unlessStopped<T>(start: Promise<T>, starting: AbortSignal): Promise<T | null> {
  try {
    return await start;
  } catch (error) {
    if (starting.aborted && error === starting.reason) return null;
    throw error;
  }
}
