// Child processes and temp dirs of the benchmark, and their cleanup on any exit.
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nowMs, sleep } from './lib.ts';
import type { SinkCount, SinkDump, SinkRequest } from './sink.ts';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
const hooks = new Set<() => void>();

/** Synchronous last-resort cleanup; safe to call more than once. */
export function cleanupNow(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
  for (const hook of hooks) hook();
  hooks.clear();
}

/** Registers a synchronous step for `cleanupNow` (after children are killed); returns its removal. */
export function onCleanup(hook: () => void): () => void {
  hooks.add(hook);
  return () => hooks.delete(hook);
}

export function makeTempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'doorbell-bench-'));
  tempDirs.add(dir);
  return dir;
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Forks a TypeScript module of this folder under tsx, with an IPC channel. */
export function forkTs(file: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return track(
    fork(join(repoRoot, 'bench', file), args, {
      cwd: repoRoot,
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
}

export function spawnNode(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return track(
    spawn(process.execPath, args, {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  );
}

/** Resolves with the first IPC message satisfying `match`, rejects if the child exits first. */
export function nextMessage<T>(child: ChildProcess, match: (m: unknown) => m is T): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      if (!match(m)) return;
      off();
      resolve(m);
    };
    const onExit = (code: number | null): void => {
      off();
      reject(new Error(`child ${child.pid} exited (${code}) before answering`));
    };
    const off = (): void => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** Resolves once the child has exited, or after `ms`; returns whether it exited. */
export function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (addr === null || typeof addr !== 'object') throw new Error('no port');
  return addr.port;
}

/** Peak resident set size (VmHWM) of a process in MiB, from /proc. */
export async function peakRssMiB(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  return kb === undefined ? Number.NaN : Number(kb) / 1024;
}

/** CPU time (user + system) a process has used so far, in seconds. */
export async function cpuSeconds(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks, USER_HZ = 100
}

/** CPU seconds of the whole machine so far (every core), busy and in all, from /proc/stat. */
export async function machineCpu(): Promise<{ busy: number; all: number }> {
  const { readFile } = await import('node:fs/promises');
  const stat = await readFile('/proc/stat', 'utf8').catch(() => '');
  // user nice system idle iowait irq softirq steal, in clock ticks
  const ticks = (stat.split('\n')[0] ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
  const all = ticks.reduce((a, b) => a + b, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return { busy: (all - idle) / 100, all: all / 100 };
}

export type Sink = {
  url: string;
  pid: number;
  count(): Promise<SinkCount>;
  dump(): Promise<SinkDump>;
  reset(): Promise<void>;
  close(): Promise<void>;
};

export async function startSink(): Promise<Sink> {
  const child = forkTs('sink.ts');
  const ready = await nextMessage(
    child,
    (m): m is { port: number } => typeof m === 'object' && m !== null && 'port' in m,
  );
  let ref = 0;
  const ask = <T>(op: SinkRequest['op']): Promise<T> => {
    const r = ++ref;
    const answer = nextMessage(
      child,
      (m): m is T => typeof m === 'object' && m !== null && (m as { ref?: number }).ref === r,
    );
    child.send({ op, ref: r } satisfies SinkRequest);
    return answer;
  };
  return {
    url: `http://127.0.0.1:${ready.port}`,
    pid: child.pid ?? 0,
    count: () => ask<SinkCount>('count'),
    dump: () => ask<SinkDump>('dump'),
    reset: () => ask<void>('reset').then(() => undefined),
    close: async () => {
      if (child.connected) child.disconnect();
      if (!(await waitExit(child, 2000))) await stopChild(child, 2000);
    },
  };
}

/** The relay bound's server (relay.ts), forwarding to `sink`. */
export async function startRelay(sink: Sink): Promise<{ url: string; pid: number; close(): Promise<void> }> {
  const child = forkTs('relay.ts', [sink.url]);
  const ready = await nextMessage(
    child,
    (m): m is { port: number } => typeof m === 'object' && m !== null && 'port' in m,
  );
  return {
    url: `http://127.0.0.1:${ready.port}`,
    pid: child.pid ?? 0,
    close: async () => {
      if (child.connected) child.disconnect();
      if (!(await waitExit(child, 2000))) await stopChild(child, 2000);
    },
  };
}

/** Milliseconds from each id's start to its first arrival at the sink, for the ids that arrived. */
export function firstDeliveryTimes(startedAt: ReadonlyMap<string, number>, dump: SinkDump): number[] {
  const times: number[] = [];
  for (const [id, t0] of startedAt) {
    const at = dump.firstAt[id];
    if (at !== undefined) times.push(at - t0);
  }
  return times;
}

/**
 * Waits until the sink has seen `expected` distinct deliveries; logs progress every 5 s and
 * gives up after `timeoutMs` or when nothing new arrives for `stallMs`. Returns whether all arrived.
 */
export async function awaitDeliveries(
  sink: Sink,
  expected: number,
  timeoutMs: number,
  label: string,
  stallMs = 30_000,
): Promise<boolean> {
  const start = nowMs();
  let last = -1;
  let lastChange = start;
  let lastLog = start;
  for (;;) {
    const { unique } = await sink.count();
    const now = nowMs();
    if (unique >= expected) return true;
    if (unique !== last) [last, lastChange] = [unique, now];
    if (now - lastLog >= 5000) {
      lastLog = now;
      console.error(`bench: ${label}: ${unique}/${expected} delivered`);
    }
    if (now - start >= timeoutMs || now - lastChange >= stallMs) {
      console.error(`bench: ${label}: giving up at ${unique}/${expected} delivered`);
      return false;
    }
    await sleep(100);
  }
}
