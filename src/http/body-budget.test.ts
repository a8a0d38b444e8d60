import assert from 'node:assert/strict';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { bodyAdmission, bodyBudget } from './body-budget.ts';

const KiB = 1024;

describe('body budget', () => {
  it('lets bodies in while they fit, first come first served; one alone always', () => {
    const budget = bodyBudget(100);
    const entered: string[] = [];
    const ask = (name: string, bytes: number) => {
      const waiting = { bytes, enter: () => entered.push(name) };
      budget.ask(waiting);
      return waiting;
    };
    const a = ask('a', 60);
    const b = ask('b', 60);
    const c = ask('c', 10); // fits, but waits its turn behind b
    assert.deepEqual(entered, ['a']);
    budget.leave(a, true);
    assert.deepEqual(entered, ['a', 'b', 'c']);
    const big = ask('big', 500);
    budget.leave(b, true);
    assert.deepEqual(entered, ['a', 'b', 'c'], 'too big while c is held');
    const d = ask('d', 10);
    budget.leave(d, false); // gone before its turn: it leaves the line
    budget.leave(c, true);
    assert.deepEqual(entered, ['a', 'b', 'c', 'big'], 'alone, however big');
    ask('e', 10);
    assert.deepEqual(entered, ['a', 'b', 'c', 'big']);
    budget.leave(big, true);
    assert.deepEqual(entered, ['a', 'b', 'c', 'big', 'e']);
  });

  describe('over HTTP', () => {
    let app: FastifyInstance;
    let port: number;
    before(async () => {
      app = Fastify();
      // The scope as the auth hook would set it: the admin's for requests that say so.
      app.addHook('onRequest', async (request) => {
        if (request.headers['x-admin']) (request as { scope?: object }).scope = { kind: 'admin' };
      });
      app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
      app.get('/x', { preParsing: bodyAdmission(150 * KiB, 300) }, async () => ({}));
      const preParsing = bodyAdmission(150 * KiB, 300);
      app.post('/x', { preParsing }, async (request) => ({ bytes: (request.body as Buffer).length }));
      app.post('/slow', { preParsing }, async () => {
        await new Promise((resolve) => setTimeout(resolve, 200));
        return {};
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      port = (app.server.address() as AddressInfo).port;
    });
    // Every socket a test opened, closed after it whatever it asserted: an open one would hold the close.
    const opened: Socket[] = [];
    afterEach(() => {
      for (const socket of opened.splice(0)) socket.destroy();
    });
    after(() => app.close());

    /** A POST declaring `bytes`, of which `sent` go out now; `rest()` sends the others. */
    function post(bytes: number, sent = bytes, headers = '') {
      const socket: Socket = connect(port, '127.0.0.1');
      opened.push(socket);
      let answer = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => {
        answer += chunk;
      });
      socket.write(
        `POST /x HTTP/1.1\r\nHost: t\r\n${headers}Content-Type: application/octet-stream\r\nContent-Length: ${bytes}\r\n\r\n`,
      );
      socket.write('x'.repeat(sent));
      return {
        socket,
        answer: () => answer,
        rest: () => socket.write('x'.repeat(bytes - sent)),
        answered: () =>
          new Promise<string>((resolve) => {
            const check = () => (/\r\n\r\n/.test(answer) ? resolve(answer) : setTimeout(check, 10));
            check();
          }),
      };
    }
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

    it('holds a large body back while others fill the budget; small ones pass; one that waits too long gets a 503', async () => {
      const a = post(100 * KiB, KiB); // let in, its body still coming
      await pause(50);
      const b = post(100 * KiB); // sent whole, but waits
      const small = post(KiB);
      assert.match(await small.answered(), /^HTTP\/1\.1 200 /);
      await pause(100);
      assert.equal(b.answer(), '', 'b waits while a is read');
      a.rest();
      assert.match(await a.answered(), /^HTTP\/1\.1 200 /);
      assert.match(await b.answered(), /^HTTP\/1\.1 200 /);

      const c = post(100 * KiB, KiB);
      await pause(50);
      const d = post(100 * KiB);
      const refused = await d.answered();
      assert.match(refused, /^HTTP\/1\.1 503 /);
      assert.match(refused, /\r\nretry-after: 1\r\n/i);
      assert.match(refused, /\r\nconnection: close\r\n/i);
      // A request that leaves while it waits gives its turn up; one that leaves inside gives its bytes back.
      const e = post(100 * KiB, KiB);
      await pause(50);
      e.socket.destroy();
      c.socket.destroy();
      await pause(50);
      assert.match(await post(100 * KiB).answered(), /^HTTP\/1\.1 200 /);
    });

    it("keeps the admin's budget apart from other tokens'; a GET never waits, even chunked", async () => {
      const other = post(100 * KiB, KiB); // another token's body, let in, still coming
      await pause(50);
      const waiting = post(100 * KiB); // another's: waits behind it
      const admin = post(100 * KiB, 100 * KiB, 'X-Admin: 1\r\n');
      assert.match(await admin.answered(), /^HTTP\/1\.1 200 /, "the admin's is let in at once");
      const get = connect(port, '127.0.0.1');
      opened.push(get);
      let answer = '';
      get.setEncoding('utf8').on('data', (chunk: string) => {
        answer += chunk;
      });
      get.write('GET /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
      for (const until = Date.now() + 200; !answer.includes('\r\n\r\n') && Date.now() < until; )
        await pause(10);
      assert.match(answer, /^HTTP\/1\.1 200 /);
      assert.equal(waiting.answer(), '');
      other.rest();
      assert.match(await waiting.answered(), /^HTTP\/1\.1 200 /);
    });

    it('gives back the bytes of a pipelined request whose connection ends while the one before it runs', async () => {
      const socket = connect(port, '127.0.0.1');
      opened.push(socket);
      socket.on('error', () => {});
      const head = (path: string, bytes: number) =>
        `POST ${path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nContent-Length: ${bytes}\r\n\r\n`;
      // The second is let in while the first runs, its body half sent; its response would wait for the first's.
      socket.write(`${head('/slow', 2)}{}${head('/x', 140 * KiB)}${'x'.repeat(KiB)}`);
      await pause(50);
      socket.destroy();
      await pause(250);
      assert.match(await post(140 * KiB).answered(), /^HTTP\/1\.1 200 /, 'its bytes were given back');
    });
  });
});
