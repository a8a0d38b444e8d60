// `doorbell serve --demo`: a local receiver, an app and an endpoint pointing at it, and a command to try.

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { verifySignature } from '../core/signing.ts';
import { makeFolder } from '../store/sqlite/sqlite-store.ts';
import { UsageError } from './flags.ts';
import type { Running } from './serve.ts';

const TOKEN = /^dbk_[A-Za-z0-9_-]{32}$/;

/** Where the demo keeps the admin token of the SQLite file `database`: beside it, named after it. */
export const demoTokenFile = (database: string): string => `${resolve(database)}.demo-admin-token`;

/**
 * The demo's admin token, kept in demoTokenFile (its owner's only, as the database is, which holds the
 * key that signs app tokens), so each start prints the one a user may have kept; for ':memory:' each
 * start makes one. A SQLite file that exists without it was set up without the demo's token: its admin
 * token, which the demo's would replace, is kept (UsageError); so is a PostgreSQL database's, which the
 * demo runs on only with DOORBELL_ADMIN_TOKEN given.
 */
export function demoToken(database: string): string {
  if (database.includes('://')) {
    throw new UsageError(
      "--demo on PostgreSQL needs DOORBELL_ADMIN_TOKEN: the demo's own admin token would replace the database's at every start",
    );
  }
  const token = `dbk_${randomBytes(24).toString('base64url')}`;
  if (database === ':memory:') return token;
  const file = demoTokenFile(database);
  // Kept beside it under one name for every database before, which let a demo on one take another.
  const before = join(dirname(resolve(database)), 'demo-admin-token');
  if (basename(database) === 'doorbell.db' && existsSync(before) && !existsSync(file))
    renameSync(before, file);
  if (existsSync(database) && !existsSync(file)) {
    throw new UsageError(
      `--demo: ${database} has no ${basename(file)} beside it (it was set up without --demo, or with DOORBELL_ADMIN_TOKEN), and the demo's admin token would replace its own: start it without --demo, demo on another --database, or set DOORBELL_ADMIN_TOKEN to the token to use`,
    );
  }
  makeFolder(dirname(file)); // its owner's only, as the store makes it
  const kept = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
  if (TOKEN.test(kept)) return kept;
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return token;
}

async function api(
  running: Running,
  token: string,
  method: 'GET' | 'POST' | 'PATCH',
  url: string,
  body?: object,
) {
  const res = await running.server.inject({
    method,
    url,
    headers: { authorization: `Bearer ${token}` },
    ...(body ? { payload: body } : {}),
  });
  return { status: res.statusCode, body: res.body ? (JSON.parse(res.body) as Record<string, unknown>) : {} };
}

export async function startDemo(running: Running, token: string): Promise<() => Promise<void>> {
  let secret = '';
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = raw.toString('utf8');
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      const check = verifySignature({ headers, body: raw, secret, now: Date.now() });
      const verdict = check.ok ? 'signature valid' : `signature INVALID: ${check.reason}`;
      console.log(`demo receiver: ${headers['webhook-id']} ${body} (${verdict})`);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/webhook`;

  const app = await api(running, token, 'GET', '/api/v1/app/demo');
  if (app.status === 404) await api(running, token, 'POST', '/api/v1/app', { name: 'Demo', uid: 'demo' });
  const path = '/api/v1/app/demo/endpoint/demo-receiver';
  const ep = await api(running, token, 'GET', path);
  if (ep.status === 404) {
    await api(running, token, 'POST', '/api/v1/app/demo/endpoint', { url, uid: 'demo-receiver' });
  } else {
    await api(running, token, 'PATCH', path, { url, disabled: false });
  }
  secret = String((await api(running, token, 'GET', `${path}/secret`)).body.key);

  console.error(`
Demo mode: deliveries to 127.0.0.0/8 are allowed (never do this in production).
  API:          ${running.url}/api/v1   (OpenAPI: ${running.url}/api/v1/openapi.json)
  admin token:  ${token}
  demo app 'demo' delivers to a receiver at ${url}, which prints what arrives and checks its signature.

Publish an event from another terminal:
  curl -s -X POST ${running.url}/api/v1/app/demo/msg \\
    -H 'Authorization: Bearer ${token}' -H 'Content-Type: application/json' \\
    -d '{"eventType":"invoice.paid","payload":{"id":"inv_1","amount":4200}}' -w '\\n'
`);
  return () => new Promise<void>((resolve) => receiver.close(() => resolve()));
}
