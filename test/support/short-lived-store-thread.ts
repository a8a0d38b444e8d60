// A store thread for tests of the thread boundary: serves an in-memory SQLite store, and `test.end(code)`
// ends the thread at once, as a fatal error would.
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { serveStore } from '../../src/store/thread/serve-store.ts';

serveStore(openSqliteStore(':memory:'), {
  test: {
    async end(code) {
      process.exit(code as number); // on a worker thread, this ends the thread only
    },
  },
});
