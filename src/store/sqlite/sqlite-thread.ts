// Entry of the SQLite store thread: opens the file named by the caller and serves the store.
import { workerData } from 'node:worker_threads';
import { serveStore } from '../thread/serve-store.ts';
import { openSqliteStore } from './sqlite-store.ts';

serveStore(openSqliteStore((workerData as { options: { path: string } }).options.path));
