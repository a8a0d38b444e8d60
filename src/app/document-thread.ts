// The thread readDocument (document-text.ts) reads a YAML document on: the value it writes, or why it
// was refused.
import { parentPort, workerData } from 'node:worker_threads';
import { isDoorbellError } from '../core/errors.ts';
import { documentValue } from './document-text.ts';

const { text, loc } = (workerData as { options: { text: string; loc: string[] } }).options;
try {
  parentPort?.postMessage({ value: documentValue(text, loc) });
} catch (error) {
  parentPort?.postMessage({ refused: isDoorbellError(error) ? error.message : String(error) });
}
