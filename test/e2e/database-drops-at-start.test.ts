// A PostgreSQL database that answers the first open and then drops a connection of the start (the
// admin token, the LISTEN connection, delivery's first claim) does not end the start: it is undone and
// tried again, as for a database that cannot be reached at all. Each connection a start opens is
// refused once, in turn, through a TCP proxy; every start must then serve and deliver.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Running, startDoorbell, startWorker } from '../../src/bin/serve.ts';
import { untilReachable } from '../../src/bin/wait-for-database.ts';
import { makeConfig, type Role } from '../../src/config/config.ts';
import { apiOk, api as call, TOKEN, until } from '../support/in-process.ts';
import { type PgProxy, startPgProxy, viaPort } from '../support/pg-proxy.ts';
import { createTempDatabase, pgSkipReason } from '../support/postgres.ts';
import { startReceiver } from '../support/receiver.ts';

const skip = await pgSkipReason();

const configOf = (database: string, role: Role) =>
  makeConfig({
    role,
    port: 0,
    database,
    adminToken: role === 'api' ? TOKEN : null,
    delivery: { retrySchedule: [0], allowSubnets: ['127.0.0.0/8'] },
  });

test('a connection dropped anywhere in a start is waited out, for the API and for a worker', {
  timeout: 180_000,
  skip,
}, async (t) => {
  const db = await createTempDatabase();
  const rx = await startReceiver();
  // Publishes for the worker go through an API that reaches the database directly.
  const api = await startDoorbell(configOf(db.url, 'api'));
  let proxy: PgProxy | null = null;
  t.after(async () => {
    await proxy?.close();
    await api.close();
    await rx.close();
    await db.drop();
  });
  const app = await apiOk(api.url, 'POST', '/app', { name: 'drops' });
  await apiOk(api.url, 'POST', `/app/${app.id}/endpoint`, { url: `${rx.url}/hook` });

  /** Starts `role` through a proxy that refuses its `refused`th connection; returns the lines it logged. */
  const startThrough = async (role: 'all' | 'worker', refused: number) => {
    proxy = await startPgProxy(0, (nth) => nth === refused);
    const config = configOf(viaPort(db, proxy.port), role);
    const lines: string[] = [];
    const waiting = {
      where: 'the proxy',
      signal: new AbortController().signal,
      log: (l: string) => lines.push(l),
    };
    const started: Pick<Running, 'close'> & { url?: string } =
      role === 'all'
        ? await untilReachable(() => startDoorbell(config), waiting)
        : await untilReachable(() => startWorker(config), waiting);
    const via = started.url ?? api.url;
    // The refused connection may be one the publish opens, after the start: a 503, which a client retries.
    const msg = await until(`${role}, connection ${refused} refused: published`, async () => {
      const res = await call(via, 'POST', `/app/${app.id}/msg`, {
        eventType: 'a.b',
        payload: { role, refused },
      });
      assert.ok(res.status === 202 || res.status === 503, `publish → ${res.status}`);
      return res.status === 202 ? (res.body as { id: string }) : undefined;
    });
    await until(`${role}, connection ${refused} refused: delivered`, () =>
      rx.requests.some((r) => r.webhookId === msg.id),
    );
    const opened = proxy.connections();
    await started.close();
    await proxy.close();
    proxy = null;
    return { lines, opened };
  };

  for (const role of ['all', 'worker'] as const) {
    // A start that nothing disturbs: how many connections it opens until its first delivery.
    const { lines, opened } = await startThrough(role, 0);
    assert.deepEqual(lines, []);
    let waited = 0;
    for (let refused = 1; refused <= opened; refused++) {
      const run = await startThrough(role, refused);
      if (run.lines.length === 0) continue; // a connection the start did not need to succeed
      waited++;
      assert.match(
        run.lines[0] ?? '',
        /^doorbell: waiting for the database the proxy: /,
        run.lines.join('\n'),
      );
      assert.match(run.lines.at(-1) ?? '', /^doorbell: connected to the database after \d+s$/);
    }
    // At least the first open's and the LISTEN connection's (a worker's second claim connection is not needed).
    assert.ok(waited >= 2, `${role}: ${waited} of ${opened} refused connections made the start wait`);
  }
});
