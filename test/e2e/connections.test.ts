// Connections a client could hold open for nothing: a request refused before its body was read closes
// its connection, and a request that does not arrive whole within requestTimeoutMs is cut (408). Real
// sockets: the in-process inject of the other API tests has no connection to hold.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from 'undici';
import { startDoorbell } from '../../src/bin/serve.ts';
import { makeConfig } from '../../src/config/config.ts';
import { mkEventType } from '../../src/store/store-contract.ts';
import { spawnDoorbell } from '../support/doorbell-process.ts';
import { TOKEN } from '../support/in-process.ts';
import { startReceiver } from '../support/receiver.ts';

let running: Awaited<ReturnType<typeof startDoorbell>>;
before(async () => {
  running = await startDoorbell(
    makeConfig({
      port: 0,
      database: ':memory:',
      adminToken: TOKEN,
      requestTimeoutMs: 300,
      sendTimeoutMs: 300,
    }),
  );
});
after(() => running.close());

/** Sends `head` (and no more), then collects what the server writes until it closes the connection. */
function sendAndWaitForClose(head: string): Promise<string> {
  const { hostname, port } = new URL(running.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(head));
    let answer = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(answer));
  });
}

const publish = (headers: string) =>
  `POST /api/v1/app/x/msg HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n${headers}Content-Length: 1000000\r\n\r\n{`;

test('a request without a valid token is answered 401 before its body arrives, and its connection closed', async () => {
  const answer = await sendAndWaitForClose(publish(''));
  assert.match(answer, /^HTTP\/1\.1 401 /);
  assert.match(answer, /\r\nconnection: close\r\n/i);
});

test('a request whose body does not arrive in time is answered 408 and its connection closed', async () => {
  const answer = await sendAndWaitForClose(publish(`Authorization: Bearer ${TOKEN}\r\n`));
  assert.match(answer, /^HTTP\/1\.1 408 /);
  assert.match(answer, /\r\n\r\n\{"code":"request_timeout","detail":"[^"]+"\}$/);
});

test('a client that sends requests and reads none of the answers has its connection closed', async () => {
  const { hostname, port } = new URL(running.url);
  const socket = connect(Number(port), hostname);
  socket.pause(); // takes nothing: the answers fill the socket's buffers, then wait
  socket.on('error', () => {});
  const document = `GET /api/v1/openapi.json HTTP/1.1\r\nHost: t\r\n\r\n`;
  try {
    socket.write(document.repeat(200)); // 24 MB of answers: more than the socket buffers hold
    const open = () =>
      new Promise<number>((resolve, reject) =>
        running.server.server.getConnections((error, n) => (error ? reject(error) : resolve(n))),
      );
    await new Promise((resolve) => socket.once('connect', resolve));
    assert.equal(await open(), 1);
    for (const until = Date.now() + 20_000; (await open()) > 0 && Date.now() < until; )
      await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await open(), 0, 'the connection that reads nothing is closed');
  } finally {
    socket.destroy();
  }
});

test('a connection may have 32 requests pipelined at once; one with more is closed, the rest unserved', async () => {
  const { hostname, port } = new URL(running.url);
  /** Sends `n` requests at once, reads until the server closes or all are answered. */
  const pipelined = (n: number) =>
    new Promise<{ answers: number; closed: boolean }>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () =>
        socket.write(`GET /api/v1/health HTTP/1.1\r\nHost: t\r\n\r\n`.repeat(n)),
      );
      let text = '';
      const answers = () => text.split('HTTP/1.1 ').length - 1;
      socket.setEncoding('latin1').on('data', (chunk: string) => {
        text += chunk;
        if (answers() === n && text.endsWith('\r\n\r\n')) {
          socket.destroy();
          resolve({ answers: n, closed: false });
        }
      });
      socket.on('error', reject);
      socket.on('close', () => resolve({ answers: answers(), closed: true }));
    });
  assert.deepEqual(await pipelined(32), { answers: 32, closed: false });
  const many = await pipelined(200);
  assert.equal(many.closed, true);
  assert.ok(many.answers <= 32, `${many.answers} answered`);
});

test('a request whose answer takes longer than the send timeout, writing nothing meanwhile, is answered', async () => {
  const apps = running.store.apps;
  const list = apps.list;
  apps.list = async (query) => {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    return list.call(apps, query);
  };
  try {
    const res = await fetch(`${running.url}/api/v1/app`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 200);
    assert.ok(Array.isArray(((await res.json()) as { data: unknown }).data));
  } finally {
    apps.list = list;
  }
});

test("what Node's parser refuses gets the API's error body, and its connection closed", async () => {
  const cases: Array<[string, RegExp]> = [
    [
      'FOO /api/v1/app HTTP/1.1\r\nHost: t\r\n\r\n',
      /^HTTP\/1\.1 400 [\s\S]*"code":"generic_error","detail":"malformed HTTP request: /,
    ],
    [
      'GET /api/v1/app HTTP/1.1\r\nHost: t\r\nX-Bad\u0001: 1\r\n\r\n',
      /^HTTP\/1\.1 400 [\s\S]*"code":"generic_error"/,
    ],
    [
      'POST /api/v1/app HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{}',
      /^HTTP\/1\.1 400 [\s\S]*"code":"generic_error"/,
    ],
    [
      `GET /api/v1/app HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      /^HTTP\/1\.1 431 [\s\S]*"code":"header_too_large"/,
    ],
  ];
  for (const [request, expected] of cases) {
    const answer = await sendAndWaitForClose(request);
    assert.match(answer, expected);
    assert.match(answer, /\r\nConnection: close\r\n/);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
    assert.deepEqual(Object.keys(body), ['code', 'detail']);
  }
});

test('"." and ".." name nothing a PUT creates, nor an event type: a path would resolve them to the parent', async () => {
  /** A request with its path sent as it is (fetch and inject resolve dot segments first). */
  const call = (method: string, path: string, body?: object) =>
    new Promise<{ status: number; json: { detail: Array<{ loc: string[] }> } }>((resolve, reject) => {
      const { hostname, port } = new URL(running.url);
      const req = httpRequest({
        host: hostname,
        port,
        path,
        method,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
      });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text || 'null') }));
      });
      req.on('error', reject);
      req.end(body ? JSON.stringify(body) : undefined);
    });
  const app = (await call('POST', '/api/v1/app', { name: 'dots' })).json as unknown as { id: string };
  const cases: Array<[string, string, object, string[]]> = [
    ['PUT', '/api/v1/app/..', { name: 'dots' }, ['path', 'app_id']],
    ['PUT', '/api/v1/app/.', { name: 'dots' }, ['path', 'app_id']],
    ['PUT', `/api/v1/app/${app.id}/endpoint/..`, { url: 'https://example.com/d' }, ['path', 'endpoint_id']],
    ['PUT', '/api/v1/event-type/..', { description: 'd' }, ['path', 'event_type_name']],
    ['POST', '/api/v1/event-type', { name: '.', description: 'd' }, ['body', 'name']],
  ];
  for (const [method, path, body, loc] of cases) {
    const res = await call(method, path, body);
    assert.equal(res.status, 422, `${method} ${path}: ${JSON.stringify(res.json)}`);
    assert.deepEqual(res.json.detail[0]?.loc, loc, `${method} ${path}`);
  }
  // Given in the body, the uid is the body's: the path is only where the request went.
  assert.equal((await call('PUT', '/api/v1/app/..', { name: 'named', uid: 'dots-named' })).status, 201);
  // One that already exists (made before the refusal) is still found, changed and deleted.
  await running.store.eventTypes.create(mkEventType('..'));
  assert.equal((await call('PUT', '/api/v1/event-type/..', { description: 'kept' })).status, 200);
  assert.equal((await call('DELETE', '/api/v1/event-type/..?expunge=true')).status, 204);
});

test('past what the open-file limit leaves, new connections are closed, and idle ones: delivery goes on, clients get in again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'doorbell-fd-cap-'));
  const receiver = await startReceiver();
  // 400 descriptors: the API takes 400 − 16 attempts − 10 − 256 = 118 connections.
  const doorbell = await spawnDoorbell({
    database: join(dir, 'doorbell.db'),
    adminToken: TOKEN,
    fileLimit: 400,
    args: ['--concurrency', '16', '--allow-subnets', '127.0.0.0/8'],
  });
  const idle: Socket[] = [];
  let closed = 0;
  try {
    /** A POST on a connection of its own, sent again (up to 5 times) when its connection is closed. */
    const call = async (path: string, body: object): Promise<{ status: number; json: { id: string } }> => {
      for (let tries = 1; ; tries++) {
        const client = new Client(doorbell.url);
        try {
          const res = await client.request({
            method: 'POST',
            path: `/api/v1${path}`,
            headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
            body: JSON.stringify(body),
          });
          return { status: res.statusCode, json: (await res.body.json()) as { id: string } };
        } catch (error) {
          if (tries === 5) throw error;
        } finally {
          await client.close();
        }
      }
    };
    const app = (await call('/app', { name: 'fd' })).json.id;
    await call(`/app/${app}/endpoint`, { url: `${receiver.url}/hook` });
    // More connections than the process has descriptors, none sending anything.
    await Promise.all(
      Array.from(
        { length: 450 },
        () =>
          new Promise<void>((resolve) => {
            const socket = connect(doorbell.port, '127.0.0.1', () => resolve());
            socket.on('error', () => resolve()).on('close', () => closed++);
            idle.push(socket);
          }),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const dropped = closed;
    // The cap is full of connections doing nothing: a new client's is closed, and so are they.
    const published = await call(`/app/${app}/msg`, { eventType: 'fd.test', payload: { n: 1 } });
    assert.equal(published.status, 202);
    assert.ok(closed > dropped, `idle connections closed for a new one: ${closed} after ${dropped}`);
    for (const until = Date.now() + 10_000; receiver.requests.length === 0 && Date.now() < until; )
      await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(
      receiver.requests.map((r) => [r.webhookId, r.status]),
      [[published.json.id, 200]],
      doorbell.output(),
    );
    assert.match(doorbell.output(), /118 API connections open/);
  } finally {
    for (const socket of idle) socket.destroy();
    await doorbell.stop();
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
