// Faults of the background work (claims, attempt records, sweeps) as one JSON line each on stderr, in
// the shape of the API's log lines (level 50 for errors, 30 for news), so that one reader takes both.
import { StoreUnavailableError } from '../store/store.ts';

function errorFields(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: String(error) };
  // An unavailable database is a known condition: its code says enough. Anything else is a defect,
  // whose stack is wanted.
  if (error instanceof StoreUnavailableError)
    return { type: error.name, message: error.message, code: error.reason };
  return {
    type: error.name,
    message: error.message,
    code: (error as { code?: unknown }).code,
    stack: error.stack,
  };
}

export function logFault(msg: string, error: unknown): void {
  process.stderr.write(`${JSON.stringify({ level: 50, time: Date.now(), msg, err: errorFields(error) })}\n`);
}

export function logNews(msg: string): void {
  process.stderr.write(`${JSON.stringify({ level: 30, time: Date.now(), msg })}\n`);
}
