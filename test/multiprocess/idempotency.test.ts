// `idempotency-key` across API processes: two `--role api` processes on one PostgreSQL database get
// the same publish, with the same key, at the same moment, for many keys. Exactly one of each pair
// runs (one message per key) and the other replays its answer: same status, same message id, with
// `idempotent-replayed: true`. A later repeat, to either process, replays it too.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Pool } from 'undici';
import { type DoorbellProcess, spawnDoorbell } from '../support/doorbell-process.ts';
import { createTempDatabase, pgSkipReason, type TempDatabase } from '../support/postgres.ts';
import { ADMIN_TOKEN } from './cluster.ts';

const KEYS = 20;
const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

interface Answer {
  status: number;
  id: string | undefined;
  replayed: boolean;
}

async function call(pool: Pool, method: 'GET' | 'POST', path: string, body?: unknown, key?: string) {
  const res = await pool.request({
    method,
    path,
    headers: key === undefined ? headers : { ...headers, 'idempotency-key': key },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: text === '' ? null : JSON.parse(text) };
}

async function publish(pool: Pool, appId: string, key: string, n: number): Promise<Answer> {
  const body = { eventType: 'order.created', payload: { n } };
  const res = await call(pool, 'POST', `/api/v1/app/${appId}/msg`, body, key);
  return { status: res.status, id: res.json?.id, replayed: res.headers['idempotent-replayed'] === 'true' };
}

test('one idempotency-key sent to two API processes at once runs once', {
  timeout: 120_000,
  skip: await pgSkipReason(),
}, async (t) => {
  let db: TempDatabase | null = null;
  const processes: DoorbellProcess[] = [];
  const pools: Pool[] = [];
  t.after(async () => {
    await Promise.all(pools.map((p) => p.destroy()));
    await Promise.all(processes.map((p) => p.kill('SIGKILL')));
    await db?.drop();
  });

  db = await createTempDatabase();
  // The first process migrates the schema; the second starts on it.
  for (let i = 0; i < 2; i++) {
    processes.push(
      await spawnDoorbell({ database: db.url, adminToken: ADMIN_TOKEN, args: ['--role', 'api'] }),
    );
  }
  pools.push(...processes.map((p) => new Pool(p.url, { connections: 4 })));
  const [a, b] = pools as [Pool, Pool];
  const app = await call(a, 'POST', '/api/v1/app', { name: 'idempotency across processes' });
  assert.equal(app.status, 201);
  const appId = app.json.id as string;
  // Warm both: connections open and routes compiled, so that the pairs below really overlap.
  await Promise.all(pools.map((p) => call(p, 'GET', `/api/v1/app/${appId}`)));

  const first = new Map<string, string>();
  for (let k = 0; k < KEYS; k++) {
    const key = `order-${k}`;
    const [x, y] = await Promise.all([publish(a, appId, key, k), publish(b, appId, key, k)]);
    assert.equal(x.status, 202, `${key}: first process answered ${x.status}`);
    assert.equal(y.status, 202, `${key}: second process answered ${y.status}`);
    assert.ok(x.id, `${key}: a message id`);
    assert.equal(y.id, x.id, `${key}: both answers name the same message`);
    assert.equal(Number(x.replayed) + Number(y.replayed), 1, `${key}: exactly one answer is a replay`);
    first.set(key, x.id);
  }
  for (const [k, [key, id]] of [...first].entries()) {
    const again = await publish(k % 2 === 0 ? a : b, appId, key, k);
    assert.deepEqual(again, { status: 202, id, replayed: true }, `${key}: a later repeat replays`);
  }

  const list = await call(b, 'GET', `/api/v1/app/${appId}/msg?limit=${KEYS * 2}`);
  assert.equal(list.status, 200);
  const stored = (list.json.data as { id: string }[]).map((m) => m.id).sort();
  assert.deepEqual(stored, [...first.values()].sort(), 'exactly one message per key');
});
