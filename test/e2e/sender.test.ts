// The HTTP sender against real receivers on 127.0.0.1. SSRF cases only check refusal.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, createConnection, createServer as createNetServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { failureReason } from '../../src/core/outcome.ts';
import { parseCidrs } from '../../src/core/ssrf.ts';
import { createSender, type Sender } from '../../src/delivery/undici-sender.ts';
import { limited, repoRoot } from '../support/doorbell-process.ts';

const run = promisify(execFile);

interface Receiver {
  server: Server;
  port: number;
  url: string;
  hits: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[];
  connections: number;
  close(): Promise<void>;
}

async function receiver(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<Receiver> {
  const sockets = new Set<Socket>();
  const hits: Receiver['hits'] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      hits.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handle(req, res);
    });
  });
  const self: Receiver = {
    server,
    port: 0,
    url: '',
    hits,
    connections: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  server.on('connection', (socket: Socket) => {
    self.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  self.port = (server.address() as AddressInfo).port;
  self.url = `http://127.0.0.1:${self.port}`;
  return self;
}

const loopback = parseCidrs(['127.0.0.0/8']);
const base = { timeoutMs: 2_000, connectTimeoutMs: 1_000, bodyCap: 16 };
const request = (url: string) => ({ url, headers: { 'content-type': 'application/json' }, body: '{"a":1}' });

describe('undici sender', () => {
  let ok: Receiver;
  let redirect: Receiver;
  let trickle: Receiver;
  let open: Sender;
  const timers = new Set<NodeJS.Timeout>();

  before(async () => {
    ok = await receiver((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-receiver': 'ok' });
      res.end('0123456789abcdefghijklmnopqrstuvwxyz');
    });
    redirect = await receiver((_req, res) => {
      res.writeHead(302, { location: `${ok.url}/redirected` });
      res.end();
    });
    // Headers that never end: a status line, then one header line every 100 ms.
    trickle = await receiver((_req, res) => {
      const socket = res.socket!;
      socket.write('HTTP/1.1 200 OK\r\n');
      const timer = setInterval(() => socket.write(`x-slow-${timers.size}: 1\r\n`), 100);
      timers.add(timer);
      res.on('close', () => {
        clearInterval(timer);
        timers.delete(timer);
      });
    });
    open = createSender({ ...base, allow: loopback });
  });

  after(async () => {
    for (const timer of timers) clearInterval(timer);
    await open.close();
    await Promise.all([ok.close(), redirect.close(), trickle.close()]);
  });

  it('delivers and keeps only the first bodyCap bytes of the response', async () => {
    const result = await open.send({ ...request(`${ok.url}/hook?x=1`), headers: { 'webhook-id': 'msg_1' } });
    assert.equal(result.kind, 'response');
    assert.ok(result.kind === 'response');
    assert.equal(result.status, 200);
    assert.equal(result.body, '0123456789abcdef');
    assert.equal(result.headers['x-receiver'], 'ok');
    assert.ok(result.durationMs >= 0);
    const hit = ok.hits.at(-1)!;
    assert.equal(hit.method, 'POST');
    assert.equal(hit.url, '/hook?x=1');
    assert.equal(hit.body, '{"a":1}');
    assert.equal(hit.headers['webhook-id'], 'msg_1');
  });

  it('reuses a keep-alive connection', async () => {
    const before = ok.connections;
    await open.send(request(ok.url));
    await open.send(request(ok.url));
    assert.ok(ok.connections - before <= 1, `${ok.connections - before} new connections`);
  });

  it('drops the rest of a huge response body', async () => {
    const big = await receiver((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('x'.repeat(2 * 1024 * 1024));
    });
    try {
      const result = await open.send(request(big.url));
      assert.ok(result.kind === 'response');
      assert.equal(result.body, 'x'.repeat(16));
    } finally {
      await big.close();
    }
  });

  it('stores at most the cap in UTF-8 however the body decodes, without a split character', async () => {
    const cap = 64 * 1024;
    const bodies = [Buffer.alloc(cap + 4096, 0xff), Buffer.from(`ab${'€'.repeat(30_000)}`)];
    const bytes = await receiver((req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(bodies[Number(req.url?.slice(1))]);
    });
    const sender = createSender({ ...base, bodyCap: cap, allow: loopback });
    try {
      const invalid = await sender.send(request(`${bytes.url}/0`));
      assert.ok(invalid.kind === 'response');
      assert.ok(Buffer.byteLength(invalid.body) <= cap, `${Buffer.byteLength(invalid.body)} bytes`);
      assert.match(invalid.body, /^\ufffd+$/);
      const split = await sender.send(request(`${bytes.url}/1`)); // the cap falls inside a €
      assert.ok(split.kind === 'response');
      assert.equal(split.body, `ab${'€'.repeat((cap - 2 - ((cap - 2) % 3)) / 3)}`);
    } finally {
      await sender.close();
      await bytes.close();
    }
  });

  it('returns a redirect without following it', async () => {
    const hitsBefore = ok.hits.length;
    const result = await open.send(request(redirect.url));
    assert.ok(result.kind === 'response');
    assert.equal(result.status, 302);
    assert.equal(ok.hits.length, hitsBefore);
    assert.ok(!ok.hits.some((hit) => hit.url === '/redirected'));
  });

  it('enforces a total deadline against a trickling receiver', async () => {
    const sender = createSender({ ...base, timeoutMs: 300, allow: loopback });
    try {
      const result = await sender.send(request(trickle.url));
      assert.equal(result.kind, 'timeout');
      assert.ok(result.kind === 'timeout');
      assert.equal(result.limitMs, 300);
    } finally {
      await sender.close();
    }
  });

  it('once the status has arrived, the deadline ends the body, not the answer: a 2xx is delivered', async () => {
    const slowBody = await receiver((_req, res) => {
      res.writeHead(200);
      res.write('first');
      const timer = setInterval(() => res.write('.'), 100);
      timers.add(timer);
      res.on('close', () => clearInterval(timer));
    });
    const sender = createSender({ ...base, timeoutMs: 300, allow: loopback });
    try {
      const result = await sender.send(request(slowBody.url));
      assert.ok(result.kind === 'response', JSON.stringify(result));
      assert.equal(result.status, 200);
      assert.match(result.body, /^first\.*$/);
      assert.ok(result.durationMs < 1_000);
    } finally {
      await sender.close();
      await slowBody.close();
    }
  });

  it('an answer that arrived before the deadline is the answer, though the process was busy past it', async () => {
    // The receiver answers at once, then holds this whole process (a pause, a long GC) past the
    // deadline: the deadline's timer and the answer are both due when it resumes.
    const busy = await receiver((_req, res) => {
      res.writeHead(200).end('ok');
      const until = performance.now() + 500;
      while (performance.now() < until);
    });
    const sender = createSender({ ...base, timeoutMs: 300, allow: loopback });
    try {
      const result = await sender.send(request(busy.url));
      assert.ok(result.kind === 'response', JSON.stringify(result));
      assert.equal(result.status, 200);
    } finally {
      await sender.close();
      await busy.close();
    }
  });

  it("a send this process has no descriptor for is its own fault (local), not the endpoint's", async () => {
    const script = fileURLToPath(new URL('../support/send-without-descriptors.ts', import.meta.url));
    const [command, args] = limited(100, process.execPath, ['--import', 'tsx', script]);
    const { stdout } = await run(command, args, { cwd: repoRoot });
    const result = JSON.parse(stdout);
    assert.deepEqual([result.kind, result.local], ['error', true], stdout);
    assert.match(result.reason, /EMFILE/);
  });

  it('a connection the receiver never accepts is a connect timeout', async () => {
    // A listener whose thread is stuck: the kernel queues one connection, then answers none.
    const stuck = new Int32Array(new SharedArrayBuffer(4));
    const listener = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
      const server = require('node:net').createServer();
      server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
        parentPort.postMessage(server.address().port);
        setTimeout(() => Atomics.wait(workerData, 0, 0), 10);
      });`,
      { eval: true, workerData: stuck },
    );
    const port = await new Promise<number>((resolve) => listener.once('message', resolve));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const queued = [0, 1].map(() => createConnection(port, '127.0.0.1').on('error', () => {}));
    const sender = createSender({ ...base, connectTimeoutMs: 200, allow: loopback });
    try {
      const result = await sender.send(request(`http://127.0.0.1:${port}/`));
      assert.ok(result.kind === 'timeout', JSON.stringify(result));
      assert.match(failureReason(result), /^connect timeout after \d+ ms$/);
    } finally {
      await sender.close();
      for (const socket of queued) socket.destroy();
      Atomics.store(stuck, 0, 1);
      Atomics.notify(stuck, 0);
      await listener.terminate();
    }
  });

  it('times out a request still waiting for a connection, without sending it', async () => {
    const sender = createSender({ ...base, timeoutMs: 300, allow: loopback, connectionsPerOrigin: 1 });
    try {
      const hits = trickle.hits.length;
      // Same tick, same deadline: the second waits behind the first and expires before it reaches a socket.
      const results = await Promise.all([
        sender.send(request(trickle.url)),
        sender.send(request(trickle.url)),
      ]);
      assert.deepEqual(
        results.map((result) => result.kind),
        ['timeout', 'timeout'],
      );
      assert.equal(trickle.hits.length, hits + 1);
    } finally {
      await sender.close();
    }
  });

  it('skips informational responses', async () => {
    const hinted = await receiver((_req, res) => {
      res.writeEarlyHints({ link: '</style.css>; rel=preload' });
      res.writeHead(201, { 'retry-after': '5' });
      res.end('done');
    });
    try {
      const result = await open.send(request(hinted.url));
      assert.ok(result.kind === 'response', JSON.stringify(result));
      assert.equal(result.status, 201);
      assert.equal(result.body, 'done');
      assert.equal(result.headers['retry-after'], '5');
      assert.equal(result.headers.link, undefined);
    } finally {
      await hinted.close();
    }
  });

  it('reports a refused connection as an error', async () => {
    const gone = await receiver(() => {});
    const url = gone.url;
    await gone.close();
    const result = await open.send(request(url));
    assert.equal(result.kind, 'error');
    assert.ok(result.kind === 'error');
    assert.match(result.reason, /connection refused/);
  });

  it('blocks loopback literals without the allowlist, before connecting', async () => {
    const guarded = createSender({ ...base, allow: [] });
    try {
      const connections = ok.connections;
      const hits = ok.hits.length;
      const direct = await guarded.send(request(ok.url));
      assert.deepEqual(direct.kind === 'blocked' && direct.reason, 'blocked address 127.0.0.1 (loopback)');
      const numeric = await guarded.send(request(`http://2130706433:${ok.port}/`));
      assert.deepEqual(numeric.kind === 'blocked' && numeric.reason, 'blocked address 127.0.0.1 (loopback)');
      const mapped = await guarded.send(request(`http://[::ffff:127.0.0.1]:${ok.port}/`));
      assert.equal(mapped.kind, 'blocked');
      assert.equal(ok.connections, connections);
      assert.equal(ok.hits.length, hits);
    } finally {
      await guarded.close();
    }
  });

  it('blocks a hostname that resolves to loopback', async () => {
    const guarded = createSender({ ...base, allow: [] });
    try {
      const connections = ok.connections;
      const result = await guarded.send(request(`http://localhost:${ok.port}/`));
      assert.equal(result.kind, 'blocked');
      assert.ok(result.kind === 'blocked');
      assert.match(result.reason, /^blocked address (127\.0\.0\.1|::1) \(loopback, from localhost\)$/);
      assert.equal(ok.connections, connections);
    } finally {
      await guarded.close();
    }
  });

  it('dials a hostname once allowlisted', async () => {
    const result = await open.send(request(`http://localhost:${ok.port}/via-dns`));
    // localhost may resolve to ::1 first, which is not allowlisted here: only 127.0.0.1 is dialed.
    assert.ok(result.kind === 'response', JSON.stringify(result));
    assert.equal(result.status, 200);
    assert.equal(ok.hits.at(-1)?.url, '/via-dns');
  });

  it('refuses its own listen address even when allowlisted', async () => {
    // 0.0.0.0 (and ::) reach this host's listeners too: allowlisted, they are still this server.
    const allow = parseCidrs(['127.0.0.0/8', '0.0.0.0/8', '::/128', '::ffff:0.0.0.0/104']);
    const self = createSender({ ...base, allow, refuse: [{ host: '127.0.0.1', port: ok.port }] });
    const wildcard = createSender({ ...base, allow, refuse: [{ host: '0.0.0.0', port: ok.port }] });
    try {
      const connections = ok.connections;
      for (const sender of [self, wildcard]) {
        const unspecified = ['0.0.0.0', '0', '[::ffff:0.0.0.0]', '[::]'].map(
          (h) => `http://${h}:${ok.port}/`,
        );
        for (const url of [ok.url, `http://localhost:${ok.port}/`, ...unspecified]) {
          const result = await sender.send(request(url));
          assert.equal(result.kind, 'blocked', url);
        }
      }
      assert.equal(ok.connections, connections);
      const other = await self.send(request(redirect.url)); // another port stays reachable
      assert.ok(other.kind === 'response');
    } finally {
      await self.close();
      await wildcard.close();
    }
  });

  it('turns bad URLs into results instead of throwing', async () => {
    assert.equal((await open.send(request('not a url'))).kind, 'error');
    assert.equal((await open.send(request('ftp://127.0.0.1/'))).kind, 'blocked');
  });

  it('keeps the status when the body then fails (a reset, a 204 announcing a body it never sends); reads large headers', async () => {
    const replies: Array<[string, number, string]> = [
      ['HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc', 200, 'abc'],
      ['HTTP/1.1 500 Oops\r\ncontent-length: 100\r\n\r\npartial', 500, 'partial'],
      ['HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n\r\n', 204, ''],
      [`HTTP/1.1 200 OK\r\nset-cookie: ${'c'.repeat(40_000)}\r\ncontent-length: 2\r\n\r\nok`, 200, 'ok'],
    ];
    for (const [reply, status, body] of replies) {
      const server = createNetServer((socket) => {
        socket.on('error', () => {});
        socket.once('data', () => {
          socket.write(reply);
          setTimeout(() => socket.resetAndDestroy(), 20);
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      try {
        const result = await open.send(request(`http://127.0.0.1:${port}/`));
        assert.ok(result.kind === 'response', JSON.stringify(result));
        assert.deepEqual([result.status, result.body], [status, body]);
      } finally {
        server.close();
      }
    }
  });

  it('sends again at once what a keep-alive connection closed as it went out, never what a new one refused', async () => {
    // `sends` requests in turn over one connection at a time, so that each finds the last one, to a
    // receiver whose `reply` gets each request with its rank on its connection.
    const sendsOf = async (reply: (socket: Socket, nth: number) => void, sends: number) => {
      let [connections, requests] = [0, 0];
      const server = createNetServer((socket) => {
        connections++;
        let nth = 0;
        socket.on('error', () => {});
        socket.on('data', (chunk: Buffer) => {
          if (!chunk.toString('latin1').startsWith('POST ')) return; // the rest of a request
          requests++;
          reply(socket, ++nth);
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const single = createSender({ ...base, allow: loopback, connectionsPerOrigin: 1 });
      try {
        const results = [];
        for (let i = 0; i < sends; i++) results.push(await single.send(request(url)));
        return { connections, requests, results };
      } finally {
        await single.close();
        server.close();
      }
    };
    const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
    // Each connection answers its first request; a later one finds it closed (FIN or RST), as when a
    // receiver closes an idle connection at the moment a request is written to it: that one goes again
    // on a new connection, which answers it.
    for (const close of [(s: Socket) => s.end(), (s: Socket) => s.resetAndDestroy()] as const) {
      const run = await sendsOf((socket, nth) => (nth === 1 ? socket.write(OK) : close(socket)), 3);
      for (const result of run.results)
        assert.ok(result.kind === 'response' && result.status === 200, JSON.stringify(result));
      assert.deepEqual(
        { connections: run.connections, requests: run.requests },
        { connections: 3, requests: 5 },
      );
    }
    // A new connection closed on its first request gave its answer: the failure, sent once; so did a
    // reused one after a 1xx (the receiver had the request).
    const closing = await sendsOf((socket) => socket.end(), 2);
    assert.equal(closing.requests, 2, 'each of two sends once');
    const last = closing.results.at(-1)!;
    assert.ok(last.kind === 'error' && /connection closed/.test(last.reason));
    const early = await sendsOf(
      (socket, nth) =>
        socket.write(
          nth === 1 ? 'HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n' : 'HTTP/1.1 103 Early Hints\r\n\r\n',
          () => nth > 1 && socket.end(),
        ),
      2,
    );
    assert.equal(early.requests, 2, 'the second, answered with a 1xx on a reused connection, once');
    assert.ok(early.results[1]!.kind === 'error', JSON.stringify(early.results[1]));
    // Part of an answer, then a close (a receiver dying as it answers), on a new connection or a reused
    // one: the receiver had the request, which is not sent again.
    for (const part of ['HTTP/1.1 2', 'HTTP/1.1 200 OK\r\nContent-Le']) {
      const cut = await sendsOf((socket, nth) => (nth === 1 ? socket.end(part) : socket.write(OK)), 2);
      assert.deepEqual([cut.requests, cut.results[0]!.kind], [2, 'error'], `${part} on a new connection`);
      const reused = await sendsOf((socket, nth) => (nth === 1 ? socket.write(OK) : socket.end(part)), 2);
      assert.deepEqual([reused.requests, reused.results[1]!.kind], [2, 'error'], `${part} on a reused one`);
    }
  });

  it('turns a receiver that breaks HTTP into an error result naming what went wrong', async () => {
    const replies: Array<[(socket: Socket) => void, RegExp]> = [
      [(socket) => socket.end('this is not http\r\n\r\n'), /does not match the HTTP\/1\.1 protocol/],
      [(socket) => socket.destroy(), /connection closed/],
      [(socket) => socket.end('HTTP/1.1 050 Odd\r\ncontent-length: 0\r\n\r\n'), /^invalid response \(/],
      [
        (socket) => socket.end('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'),
        /invalid response: not HTTP, or a 100 Continue/,
      ],
      [
        (socket) =>
          socket.end('HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\nconnection: upgrade\r\n\r\n'),
        /^invalid response: 101 Switching Protocols \(/,
      ],
      [
        (socket) => {
          socket.write('HTTP/1.1 200 OK\r\n');
          for (let i = 0; i < 3000; i++) socket.write(`x-h${i}: ${'v'.repeat(100)}\r\n`);
          socket.end('\r\n');
        },
        /Headers Overflow/,
      ],
    ];
    for (const [reply, reason] of replies) {
      const server = createNetServer((socket) => {
        socket.on('error', () => {});
        socket.once('data', () => reply(socket));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      try {
        const result = await open.send(request(`http://127.0.0.1:${port}/`));
        assert.equal(result.kind, 'error', JSON.stringify(result));
        assert.ok(result.kind === 'error');
        assert.match(result.reason, reason);
      } finally {
        server.close();
      }
    }
  });
});
