// A body over the limit is answered 413 (a wrong token 401) while the client may still be sending it.
// Closed at once, the connection would be reset by the unread rest and a client that reads only after
// sending (most blocking HTTP clients) would see a broken pipe instead of the answer. Real sockets:
// inject() has none.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { ApiException, Svix } from 'svix';
import { startDoorbell } from '../../src/bin/serve.ts';
import { makeConfig } from '../../src/config/config.ts';
import { TOKEN } from '../support/in-process.ts';

const MiB = 1024 * 1024;
const TOO_LARGE = { code: 'payload_too_large', detail: 'request body is larger than 1048576 bytes' };

let running: Awaited<ReturnType<typeof startDoorbell>>;
let svix: Svix;
before(async () => {
  running = await startDoorbell(makeConfig({ port: 0, database: ':memory:', adminToken: TOKEN }));
  svix = new Svix(TOKEN, { serverUrl: running.url });
});
after(() => running.close());

interface Sent {
  /** Body bytes the client managed to write before the connection ended or failed. */
  sent: number;
  /** Whether a write failed (EPIPE, ECONNRESET): the client was still sending when the server reset. */
  failed: boolean;
  answer: string;
}

/**
 * POSTs a body of `size` bytes of JSON string content in 64 KiB pieces, with a content-length or
 * chunked, and resolves once the connection closes. It writes as fast as the socket takes the bytes.
 */
function post(size: number, framing: 'content-length' | 'chunked', token = TOKEN): Promise<Sent> {
  const { hostname, port } = new URL(running.url);
  const piece = Buffer.alloc(64 * 1024, 'x');
  const head =
    `POST /api/v1/app HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer ${token}\r\n` +
    'Content-Type: application/json\r\n' +
    (framing === 'chunked' ? 'Transfer-Encoding: chunked\r\n\r\n' : `Content-Length: ${size}\r\n\r\n`);
  const frame = (b: Buffer) =>
    framing === 'chunked'
      ? Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')])
      : b;
  return new Promise((resolve) => {
    const result: Sent = { sent: 0, failed: false, answer: '' };
    // Half-open allowed: the server's FIN after its answer does not stop the client sending.
    const socket = connect({ port: Number(port), host: hostname, allowHalfOpen: true }, () => {
      socket.write(head);
      const pump = () => {
        while (result.sent < size && !socket.destroyed) {
          const n = Math.min(piece.length, size - result.sent);
          result.sent += n;
          const more = socket.write(frame(piece.subarray(0, n)));
          if (result.sent === size) socket.end(framing === 'chunked' ? '0\r\n\r\n' : '');
          if (!more) return void socket.once('drain', pump);
        }
      };
      pump();
    });
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      result.answer += chunk;
    });
    socket.on('error', () => {
      result.failed = true;
    });
    socket.on('close', () => resolve(result));
  });
}

function assertTooLarge(answer: string): void {
  assert.match(answer, /^HTTP\/1\.1 413 /);
  assert.match(answer, /\r\nconnection: close\r\n/i);
  assert.deepEqual(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)), TOO_LARGE);
}

test('the svix SDK gets the 413 naming the limit for a 16 MiB message', async () => {
  const app = await svix.application.create({ name: 'exports' });
  const error = await svix.message
    .create(app.id, { eventType: 'export.ready', payload: { data: 'x'.repeat(16 * MiB) } })
    .then(
      () => assert.fail('published'),
      (e: unknown) => e,
    );
  assert.ok(error instanceof ApiException, String(error));
  assert.equal(error.code, 413);
  assert.deepEqual(error.body, TOO_LARGE);
  assert.equal((await svix.message.list(app.id)).data.length, 0);
});

for (const framing of ['content-length', 'chunked'] as const) {
  test(`a 16 MiB body (${framing}) is read to its end and answered 413, not reset`, async () => {
    const { sent, failed, answer } = await post(16 * MiB, framing);
    assert.equal(failed, false);
    assert.equal(sent, 16 * MiB);
    assertTooLarge(answer);
    assert.equal((await svix.application.list()).data.length, 1); // served on, and nothing created
  });
}

for (const framing of ['content-length', 'chunked'] as const) {
  test(`a client that does not stop sending (${framing}) is cut off once the 413 is out`, async () => {
    const { sent, answer } = await post(200 * MiB, framing);
    assertTooLarge(answer);
    assert.ok(sent < 200 * MiB, `the server read all ${sent} bytes`);
    assert.equal((await svix.application.list()).data.length, 1);
  });
}

test('a large body with a wrong token is read to its end and answered 401, not reset', async () => {
  const { sent, failed, answer } = await post(16 * MiB, 'content-length', 'wrong');
  assert.equal(failed, false);
  assert.equal(sent, 16 * MiB);
  assert.match(answer, /^HTTP\/1\.1 401 /);
  assert.match(answer, /\r\nconnection: close\r\n/i);
});

test('a request pipelined behind the too-large body is not served: its answer would never be sent', async () => {
  const { hostname, port } = new URL(running.url);
  const post = (body: string) =>
    `POST /api/v1/app HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer ${TOKEN}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const big = JSON.stringify({ name: 'x'.repeat(2 * MiB) });
  const socket = connect({ port: Number(port), host: hostname, allowHalfOpen: true });
  let answer = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    answer += chunk;
  });
  socket.on('error', () => {});
  socket.end(post(big) + post(JSON.stringify({ name: 'pipelined' }))); // one write
  await new Promise((resolve) => socket.on('close', resolve));
  assertTooLarge(answer);
  const names = (await svix.application.list({ limit: 250 })).data.map((a) => a.name);
  assert.ok(!names.includes('pipelined'), `served: ${names}`);
});

test('large bodies are read a budget at a time: one waits while another fills it, small ones pass', async () => {
  const held = await startDoorbell(
    makeConfig({ port: 0, database: ':memory:', adminToken: TOKEN, bodyBytesInFlight: MiB }),
  );
  const { hostname, port } = new URL(held.url);
  const sockets: ReturnType<typeof connect>[] = [];
  /** A POST of an application named by `size` bytes, `sent` bytes of its body now; `rest()` sends the others. */
  const create = (size: number, sent = Number.POSITIVE_INFINITY) => {
    const body = JSON.stringify({ name: 'n'.repeat(size) });
    const socket = connect(Number(port), hostname);
    sockets.push(socket);
    let answer = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.write(
      `POST /api/v1/app HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer ${TOKEN}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, sent)}`,
    );
    return {
      answer: () => answer,
      rest: () => socket.write(body.slice(sent)),
      answered: async () => {
        while (!answer.includes('\r\n\r\n')) await new Promise((resolve) => setTimeout(resolve, 10));
        return answer;
      },
    };
  };
  try {
    const first = create(700 * 1024, 1024);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = create(700 * 1024);
    assert.match(await create(10).answered(), /^HTTP\/1\.1 201 /);
    const list = await fetch(`${held.url}/api/v1/app`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(list.status, 200, 'a request without a body does not wait');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(second.answer(), '', 'waits while the first is read');
    first.rest();
    assert.match(await first.answered(), /^HTTP\/1\.1 201 /);
    assert.match(await second.answered(), /^HTTP\/1\.1 201 /);
  } finally {
    for (const socket of sockets) socket.destroy();
    await held.close();
  }
});
