// Worker threads that run one of this project's TypeScript modules, loaded through tsx whichever way the
// caller itself was started. tsx is found from this file, not from the working directory (an eval'd
// thread resolves bare names from there): an installed `doorbell` runs from any folder.
import { Worker, type WorkerOptions } from 'node:worker_threads';

const TSX = import.meta.resolve('tsx/esm/api');
const BOOT = `const { workerData } = require('node:worker_threads');
import(workerData.tsx).then(({ register }) => { register(); return import(workerData.entry); })`;

/** Starts a thread running `entry`, which finds `options` in `workerData.options`. */
export function typeScriptThread(
  entry: URL,
  options: unknown,
  limits?: WorkerOptions['resourceLimits'],
): Worker {
  return new Worker(BOOT, {
    eval: true,
    workerData: { tsx: TSX, entry: entry.href, options },
    ...(limits ? { resourceLimits: limits } : {}),
  });
}
