// A store thread for tests of a full disk: serves the SQLite store at `path` with PRAGMA max_page_count
// set to `maxPages`, so that a write needing more pages fails with SQLITE_FULL, as on a full disk.
import { workerData } from 'node:worker_threads';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { serveStore } from '../../src/store/thread/serve-store.ts';

const { path, maxPages } = (workerData as { options: { path: string; maxPages: number } }).options;
serveStore(openSqliteStore(path, { pragmas: [`max_page_count = ${maxPages}`] }));
