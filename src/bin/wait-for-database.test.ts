import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StoreUnavailableError } from '../store/store.ts';
import { untilReachable } from './wait-for-database.ts';

const WHERE = 'postgres://doorbell@db/doorbell';
const opened = (name: string) => ({ name, close: async () => {} });
const refused = () =>
  Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5432'), { code: 'ECONNREFUSED' });

test('an unreachable database is tried again, with one line when the wait starts and one once connected', async () => {
  const lines: string[] = [];
  let calls = 0;
  const starting = Object.assign(new Error('the database system is starting up'), { code: '57P03' });
  const store = await untilReachable(
    async () => {
      calls++;
      if (calls === 1) throw new StoreUnavailableError(refused());
      if (calls === 2) throw new StoreUnavailableError(starting);
      return opened('store');
    },
    { where: WHERE, signal: new AbortController().signal, log: (line) => lines.push(line) },
  );
  assert.equal(store.name, 'store');
  assert.equal(calls, 3);
  assert.equal(lines.length, 2, lines.join('\n'));
  assert.equal(lines[0], `doorbell: waiting for the database ${WHERE}: connect ECONNREFUSED 10.0.0.5:5432`);
  assert.match(lines[1] ?? '', /^doorbell: connected to the database after \ds$/); // 0.5 s + 1 s of backoff
});

test('a failure that waiting does not fix is thrown at once, as it is', async () => {
  const lines: string[] = [];
  let calls = 0;
  const auth = Object.assign(new Error('password authentication failed for user "doorbell"'), {
    code: '28P01',
  });
  await assert.rejects(
    untilReachable(
      async () => {
        calls++;
        throw auth;
      },
      { where: WHERE, signal: new AbortController().signal, log: (line) => lines.push(line) },
    ),
    (error) => error === auth,
  );
  assert.equal(calls, 1);
  assert.deepEqual(lines, []);
});

test('an abort ends the wait at once, and an open that succeeds after it is closed', async () => {
  const stop = new AbortController();
  let finish!: () => void;
  let closed = false;
  const late = new Promise<{ close(): Promise<void> }>((resolve) => {
    finish = () =>
      resolve({
        close: async () => {
          closed = true;
        },
      });
  });
  const waiting = untilReachable(() => late, { where: WHERE, signal: stop.signal, log: () => {} });
  stop.abort(new Error('SIGTERM'));
  await assert.rejects(waiting, { message: 'SIGTERM' });
  finish();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(closed, true);
});
