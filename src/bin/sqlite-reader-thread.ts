// The SQLite reader thread: the reads whose cost grows with history, on a connection of their own (see
// openSqliteReader), so that they hold up neither commits nor deliveries on the store's thread.
import { workerData } from 'node:worker_threads';
import { openSqliteReader } from '../store/sqlite/sqlite-reader.ts';
import { serveStore } from '../store/thread/serve-store.ts';

const { path } = (workerData as { options: { path: string } }).options;
serveStore(openSqliteReader(path));
