// Runs the real Doorbell CLI (`src/bin/doorbell.ts serve`) as a child process for end-to-end and
// crash tests: pick a loopback port, spawn, wait until GET /api/v1/health/ping answers 204 (or, for a
// process without an HTTP listener such as `--role worker`, until it prints its start line), and stop
// it with a signal. Children still alive when the test process exits are killed.
import { type ChildProcess, spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface DoorbellOptions {
  database: string;
  adminToken: string;
  port?: number; // default: a free loopback port
  args?: readonly string[]; // extra CLI arguments, e.g. ['--retry-schedule', '0,20ms']
  env?: Readonly<Record<string, string>>;
  readyTimeoutMs?: number; // default 30 s
  /**
   * How readiness is seen: 'http' (default) polls GET /api/v1/health/ping; 'stderr-line' waits until
   * the output contains `readyLine` (for `--role worker`, which has no HTTP listener).
   */
  ready?: 'http' | 'stderr-line';
  readyLine?: string; // default 'Doorbell worker started'
  /** Runs the package's bin/doorbell.js from this folder, as an installed command runs (default: the repository). */
  cwd?: string;
  /** Its open-file limit, soft and hard (`ulimit -n`): Node cannot raise it. */
  fileLimit?: number;
}

/** `command` with `args`, under an open-file limit when one is given (through sh's ulimit). */
export function limited(
  fileLimit: number | undefined,
  command: string,
  args: readonly string[],
): [string, string[]] {
  if (fileLimit === undefined) return [command, [...args]];
  return ['/bin/sh', ['-c', `ulimit -n ${fileLimit} && exec "$0" "$@"`, command, ...args]];
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface DoorbellProcess {
  readonly url: string; // http://127.0.0.1:<port>
  readonly port: number;
  readonly pid: number;
  readonly exited: Promise<Exit>;
  /** The last 64 KiB of stdout and stderr, for failure messages. */
  output(): string;
  /** Everything written to stdout (kept clean for scripts: messages go to stderr). */
  stdout(): string;
  /** Sends `signal` (if still running) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<Exit>;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<Exit>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function ping(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = httpRequest(`${url}/api/v1/health/ping`, { agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function spawnDoorbell(options: DoorbellOptions): Promise<DoorbellProcess> {
  installExitHook();
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const entry = options.cwd
    ? [join(repoRoot, 'bin', 'doorbell.js')]
    : ['--import', 'tsx', 'src/bin/doorbell.ts'];
  const args = [
    ...entry,
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--database',
    options.database,
    ...(options.args ?? []),
  ];
  const child = spawn(...limited(options.fileLimit, process.execPath, args), {
    cwd: options.cwd ?? repoRoot,
    env: { ...process.env, ...options.env, DOORBELL_ADMIN_TOKEN: options.adminToken },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);

  let output = '';
  let stdout = '';
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-64 * 1024);
  };
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    append(chunk);
  });
  child.stderr?.on('data', append);

  let running = true;
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      live.delete(child);
      resolve({ code, signal });
    });
  });

  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (running) child.kill(signal);
    return exited;
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  const readyLine = options.readyLine ?? 'Doorbell worker started';
  const isReady =
    options.ready === 'stderr-line'
      ? async () => output.includes(readyLine)
      : async () => (await ping(url)) === 204;
  for (;;) {
    if (!running) {
      const exit = await exited;
      throw new Error(`doorbell exited before ready (${exit.code ?? exit.signal}):\n${output}`);
    }
    if (await isReady()) break;
    if (Date.now() > deadline) {
      await kill('SIGKILL');
      throw new Error(`doorbell not ready after ${options.readyTimeoutMs ?? 30_000} ms:\n${output}`);
    }
    await sleep(50);
  }

  return {
    url,
    port,
    pid: child.pid ?? -1,
    exited,
    output: () => output,
    stdout: () => stdout,
    kill,
    async stop(graceMs = 10_000) {
      if (!running) return exited;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), graceMs);
      });
      const first = await Promise.race([exited, late]);
      clearTimeout(timer);
      if (first === 'late') return kill('SIGKILL');
      return first;
    },
  };
}
