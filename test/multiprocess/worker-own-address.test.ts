// A `--role worker` process never dials the platform's own listen address: the one its configuration
// names (--host, --port), shared with the API processes it serves. Here that address is held by a
// receiver, which must see no request, while another receiver on the same allowlisted subnet gets the
// message.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type DoorbellProcess, spawnDoorbell } from '../support/doorbell-process.ts';
import { createTempDatabase, pgSkipReason, type TempDatabase } from '../support/postgres.ts';
import { type Receiver, startReceiver } from '../support/receiver.ts';
import { ADMIN_TOKEN } from './cluster.ts';

const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

test('a worker refuses the listen address of its configuration', {
  timeout: 120_000,
  skip: await pgSkipReason(),
}, async (t) => {
  let db: TempDatabase | null = null;
  const processes: DoorbellProcess[] = [];
  const receivers: Receiver[] = [];
  t.after(async () => {
    await Promise.all(processes.map((p) => p.kill('SIGKILL')));
    await Promise.all(receivers.map((r) => r.close()));
    await db?.drop();
  });

  db = await createTempDatabase();
  const own = await startReceiver();
  const other = await startReceiver();
  receivers.push(own, other);
  const common = { database: db.url, adminToken: ADMIN_TOKEN };
  const args = ['--allow-subnets', '127.0.0.0/8', '--retry-schedule', '0'];
  const api = await spawnDoorbell({ ...common, args: ['--role', 'api', ...args] });
  processes.push(api);
  processes.push(
    await spawnDoorbell({
      ...common,
      port: own.port,
      args: ['--role', 'worker', ...args],
      ready: 'stderr-line',
    }),
  );

  // biome-ignore lint/suspicious/noExplicitAny: JSON answers of the API
  const call = async (method: string, path: string, body?: unknown): Promise<any> => {
    const res = await fetch(`${api.url}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return res.json();
  };
  const app = await call('POST', '/api/v1/app', { name: 'own' });
  const refused = await call('POST', `/api/v1/app/${app.id}/endpoint`, { url: `${own.url}/hook` });
  const reached = await call('POST', `/api/v1/app/${app.id}/endpoint`, { url: `${other.url}/hook` });
  const msg = await call('POST', `/api/v1/app/${app.id}/msg`, { eventType: 'a.b', payload: { n: 1 } });

  type Attempt = { endpointId: string; responseStatusCode: number; response: string };
  let attempts: Attempt[] = [];
  for (let tries = 0; attempts.length < 2 && tries < 200; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    attempts = (await call('GET', `/api/v1/app/${app.id}/attempt/msg/${msg.id}`)).data;
  }
  const of = (endpointId: string) => attempts.find((a) => a.endpointId === endpointId);
  assert.deepEqual(
    { code: of(refused.id)?.responseStatusCode, response: of(refused.id)?.response },
    { code: 0, response: "blocked address 127.0.0.1 (this server's own address)" },
  );
  assert.equal(of(reached.id)?.responseStatusCode, 200);
  assert.equal(own.requests.length, 0);
  assert.equal(other.requests.length, 1);
});
