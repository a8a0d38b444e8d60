// Runs the `doorbell` command to completion as a user runs it: a separate process, results on stdout,
// errors on stderr.
import { execFile } from 'node:child_process';

export type Run = { code: number; stdout: string; stderr: string };

/** The line under every usage error. */
export const HELP_POINTER = "(run 'doorbell --help' or 'doorbell <command> --help' for options and examples)";

/** Runs the command; `input` is written to its stdin. */
export function doorbell(args: string[], env: NodeJS.ProcessEnv = {}, input?: Buffer): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', 'src/bin/doorbell.ts', ...args],
      { env: { ...process.env, ...env }, timeout: 30_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
    if (input) child.stdin?.end(input);
  });
}
