import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { after, before, test } from 'node:test';
import { lingerBeforeClose } from './lingering-close.ts';

const MiB = 1024 * 1024;

// A server that refuses every request at once, before reading its body, as a 413 does; it lingers for
// 16 MiB, and for the milliseconds that the path names.
let server: Server;
let port: number;
before(async () => {
  server = createServer((req, res) => {
    lingerBeforeClose(req, { bytes: 16 * MiB, ms: Number(req.url?.slice(1)) });
    res.writeHead(413, { connection: 'close', 'content-length': 0 }).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});
after(() => server.close());

interface Outcome {
  answer: string;
  /** The server reset the connection (unread bytes left when it closed) rather than closing it. */
  reset: boolean;
}

/** Sends `head`, then `body`, then nothing more; resolves once the server has closed the connection. */
function send(head: string, body: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => {
      socket.write(head);
      socket.write(body);
    });
    const outcome: Outcome = { answer: '', reset: false };
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      outcome.answer += chunk;
    });
    socket.on('error', () => {
      outcome.reset = true;
    });
    socket.on('end', () => socket.end());
    socket.on('close', () => resolve(outcome));
  });
}

const head = (length: number, ms = 60_000) =>
  `POST /${ms} HTTP/1.1\r\nHost: test\r\nContent-Length: ${length}\r\n\r\n`;
const bytes = (n: number) => Buffer.alloc(n, 'x');

test('a body sent whole within the budget is read to its end, then the connection is closed', async () => {
  const { answer, reset } = await send(head(12 * MiB), bytes(12 * MiB));
  assert.match(answer, /^HTTP\/1\.1 413 /);
  assert.equal(reset, false);
});

test('a client that stops sending midway is not waited for: the connection is closed', async () => {
  const { answer, reset } = await send(head(12 * MiB, 50), bytes(1000));
  assert.match(answer, /^HTTP\/1\.1 413 /);
  assert.equal(reset, false);
});

test('a body past the budget is cut off', async () => {
  const { answer, reset } = await send(head(64 * MiB), bytes(64 * MiB));
  assert.match(answer, /^HTTP\/1\.1 413 /);
  assert.equal(reset, true);
});
