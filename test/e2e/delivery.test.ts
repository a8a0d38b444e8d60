// End to end: the real composition root, real HTTP, real local receivers, signatures checked by the
// official libraries. Millisecond retry schedules keep it quick. Runs once per store driver.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { Webhook as SvixWebhook } from 'svix';
import type { Running } from '../../src/bin/serve.ts';
import { api, describeEachDriver, start, TOKEN, until } from '../support/in-process.ts';
import { startReceiver } from '../support/receiver.ts';

async function setup(running: Running, url: string, extra: object = {}) {
  const app = await api(running.url, 'POST', '/app', { name: 'Test' });
  assert.equal(app.status, 201);
  const ep = await api(running.url, 'POST', `/app/${app.body.id}/endpoint`, { url, ...extra });
  assert.equal(ep.status, 201, JSON.stringify(ep.body));
  const secret = await api(running.url, 'GET', `/app/${app.body.id}/endpoint/${ep.body.id}/secret`);
  return { appId: app.body.id as string, epId: ep.body.id as string, secret: secret.body.key as string };
}

async function publish(running: Running, appId: string, payloadText = '{"n":1}', eventType = 'test.event') {
  const res = await fetch(`${running.url}/api/v1/app/${appId}/msg`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: `{"eventType":"${eventType}","payload":${payloadText}}`,
  });
  assert.equal(res.status, 202);
  return ((await res.json()) as { id: string }).id;
}

async function attempts(running: Running, appId: string, msgId: string) {
  const res = await api(running.url, 'GET', `/app/${appId}/attempt/msg/${msgId}`);
  return res.body.data as {
    status: number;
    responseStatusCode: number;
    response: string;
    triggerType: number;
  }[];
}

await describeEachDriver((driver) => {
  describe('delivery', () => {
    let running: Running;
    before(async () => {
      running = await start({}, driver);
    });
    after(async () => {
      await running.close();
    });

    test('delivers the exact payload bytes, signed, verified by standardwebhooks and svix', async () => {
      const rx = await startReceiver({ handle: (_hit, res) => res.writeHead(200).end('thanks') });
      const { appId, secret } = await setup(running, rx.url, { headers: { 'x-team': 'billing' } });
      const payload = '{"big":12345678901234567890,"z":1,"a":"é"}';
      const msgId = await publish(running, appId, payload);
      const hit = await until('delivery', () => rx.requests[0]);
      assert.equal(hit.body, payload);
      assert.equal(hit.headers['webhook-id'], msgId);
      assert.equal(hit.headers['svix-id'], msgId);
      assert.equal(hit.headers['x-team'], 'billing');
      assert.doesNotThrow(() => new StandardWebhook(secret).verify(hit.body, hit.headers));
      assert.doesNotThrow(() => new SvixWebhook(secret).verify(hit.body, hit.headers));
      const list = await until('attempt recorded', async () => (await attempts(running, appId, msgId))[0]);
      assert.equal(list.status, 0);
      assert.equal(list.responseStatusCode, 200);
      assert.equal(list.response, 'thanks');
      await rx.close();
    });

    test('a response body with NUL bytes and invalid UTF-8 is recorded as text', async () => {
      const body = Buffer.from([0x6f, 0x6b, 0x00, 0xff, 0x21]); // "ok", NUL, a stray 0xFF, "!"
      const rx = await startReceiver({ handle: (_hit, res) => res.writeHead(200).end(body) });
      const { appId } = await setup(running, rx.url);
      const msgId = await publish(running, appId);
      const list = await until('attempt recorded', async () => (await attempts(running, appId, msgId))[0]);
      assert.equal(list.status, 0);
      assert.equal(list.response, 'ok\ufffd\ufffd!');
      assert.equal(rx.requests.length, 1);
      await rx.close();
    });

    test('retries on failure with the same webhook-id until it succeeds', async () => {
      let n = 0;
      const rx = await startReceiver({ handle: (_hit, res) => res.writeHead(++n < 3 ? 500 : 204).end() });
      const { appId } = await setup(running, rx.url);
      const msgId = await publish(running, appId);
      await until('three tries', () => rx.requests.length >= 3);
      assert.ok(rx.requests.every((h) => h.headers['webhook-id'] === msgId));
      const list = await until('three attempts', async () => {
        const a = await attempts(running, appId, msgId);
        return a.length === 3 ? a : undefined;
      });
      assert.deepEqual(list.map((a) => a.responseStatusCode).sort(), [204, 500, 500]);
      await rx.close();
    });

    test('a failed message is recovered once the receiver is back', async () => {
      let healthy = false;
      const rx = await startReceiver({ handle: (_hit, res) => res.writeHead(healthy ? 200 : 503).end() });
      const { appId, epId } = await setup(running, rx.url);
      const msgId = await publish(running, appId);
      await until('exhausted', async () => {
        const msgs = await api(running.url, 'GET', `/app/${appId}/endpoint/${epId}/msg`);
        return msgs.body.data[0]?.status === 2 || undefined;
      });
      assert.equal(rx.requests.length, 3, 'the schedule allows three attempts');
      healthy = true;
      const recover = await api(running.url, 'POST', `/app/${appId}/endpoint/${epId}/recover`, {
        since: new Date(Date.now() - 60_000).toISOString(),
      });
      assert.equal(recover.status, 202);
      await until('recovered delivery', () => rx.requests.length === 4 || undefined);
      assert.equal(rx.requests[3]?.headers['webhook-id'], msgId);
      const list = await until('four attempts', async () => {
        const a = await attempts(running, appId, msgId);
        return a.length === 4 ? a : undefined;
      });
      await rx.close();
      // triggerType: 0 scheduled, 1 manual (a recover or resend).
      assert.deepEqual(list.map((a) => a.triggerType).sort(), [0, 0, 0, 1]);
    });

    test('a resend during an attempt waits for it, then sends once more, never two at once', async () => {
      let inFlight = 0;
      let most = 0;
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const rx = await startReceiver({
        handle: async (hit, res) => {
          most = Math.max(most, ++inFlight);
          if (hit.attempt === 1) await held;
          inFlight--;
          res.writeHead(200).end();
        },
      });
      const { appId, epId } = await setup(running, rx.url);
      const msgId = await publish(running, appId);
      await until('first attempt in flight', () => rx.requests.length === 1 || undefined);
      const resent = await api(running.url, 'POST', `/app/${appId}/msg/${msgId}/endpoint/${epId}/resend`);
      assert.equal(resent.status, 202);
      await new Promise((r) => setTimeout(r, 150)); // room for a wrongly parallel attempt to arrive
      const whileHeld = rx.requests.length;
      release();
      const list = await until('two attempts', async () => {
        const a = await attempts(running, appId, msgId);
        return a.length === 2 ? a : undefined;
      });
      await rx.close();
      assert.equal(whileHeld, 1, 'the resend waited for the attempt in flight');
      assert.equal(most, 1);
      assert.deepEqual(list.map((a) => a.triggerType).sort(), [0, 1]);
    });

    test('a failed resend is recorded and leaves a delivered message delivered, not retried', async () => {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      const rx = await startReceiver({
        handle: async (hit, res) => {
          if (hit.attempt > 1) await held;
          res.writeHead(hit.attempt === 1 ? 200 : 500).end();
        },
      });
      const { appId, epId } = await setup(running, rx.url);
      const msgId = await publish(running, appId);
      const statusAt = async () =>
        (await api(running.url, 'GET', `/app/${appId}/endpoint/${epId}/msg`)).body.data[0]?.status;
      await until('delivered', async () => (await statusAt()) === 0 || undefined);
      const resent = await api(running.url, 'POST', `/app/${appId}/msg/${msgId}/endpoint/${epId}/resend`);
      assert.equal(resent.status, 202);
      await until('the manual attempt in flight', () => rx.requests.length === 2 || undefined);
      const destinations = await api(running.url, 'GET', `/app/${appId}/msg/${msgId}/endpoint`);
      assert.deepEqual(
        [await statusAt(), destinations.body.data[0]?.status, destinations.body.data[0]?.nextAttempt],
        [0, 0, null],
        'shown delivered while the manual attempt is in flight, as in Svix',
      );
      release();
      const list = await until('the manual attempt recorded', async () => {
        const a = await attempts(running, appId, msgId);
        return a.length === 2 ? a : undefined;
      });
      await new Promise((r) => setTimeout(r, 300)); // longer than the whole retry schedule
      await rx.close();
      assert.deepEqual(list.map((a) => [a.triggerType, a.responseStatusCode]).sort(), [
        [0, 200],
        [1, 500],
      ]);
      assert.equal(rx.requests.length, 2, 'the failed manual attempt is not retried');
      assert.equal(await statusAt(), 0, 'the message stays delivered to the endpoint');
    });

    test('410 Gone disables the endpoint; later messages are not sent to it', async () => {
      const rx = await startReceiver({ handle: (_hit, res) => res.writeHead(410).end() });
      const { appId, epId } = await setup(running, rx.url);
      await publish(running, appId);
      await until(
        'disabled',
        async () => (await api(running.url, 'GET', `/app/${appId}/endpoint/${epId}`)).body.disabled,
      );
      await publish(running, appId);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(rx.requests.length, 1);
      await rx.close();
    });

    test('a redirect is a failure and is never followed', async () => {
      const target = await startReceiver({ handle: (_hit, res) => res.writeHead(200).end() });
      const rx = await startReceiver({
        handle: (_hit, res) => res.writeHead(302, { location: target.url }).end(),
      });
      const { appId } = await setup(running, rx.url);
      const msgId = await publish(running, appId);
      const first = await until('attempt', async () => (await attempts(running, appId, msgId))[0]);
      assert.equal(first.status, 2);
      assert.equal(first.responseStatusCode, 302);
      assert.equal(first.response, `redirect (HTTP 302) to ${target.url} not followed`);
      assert.equal(target.requests.length, 0);
      await Promise.all([rx.close(), target.close()]);
    });
  });

  describe('delivery deadlines and Retry-After', () => {
    test('a trickling receiver cannot stretch the total deadline; a status that arrived is its answer', async () => {
      const running = await start({ attemptTimeoutMs: 300, retrySchedule: [0] }, driver);
      const timers = new Set<NodeJS.Timeout>();
      const rx = await startReceiver({
        handle: (hit, res) => {
          const socket = res.socket!;
          // The first message's response trickles its headers, the second's its body after a 200.
          if (hit.body.includes('"n":1')) socket.write('HTTP/1.1 200 OK\r\n');
          else socket.write('HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n');
          timers.add(setInterval(() => socket.write(hit.body.includes('"n":1') ? 'x-a: 1\r\n' : '.'), 50));
        },
      });
      const { appId } = await setup(running, rx.url);
      const headers = await publish(running, appId, '{"n":1}');
      const body = await publish(running, appId, '{"n":2}');
      const first = await until('attempt', async () => (await attempts(running, appId, headers))[0]);
      assert.deepEqual([first.status, first.responseStatusCode], [2, 0]);
      assert.match(first.response, /timeout after 300 ms/);
      const second = await until('attempt', async () => (await attempts(running, appId, body))[0]);
      assert.deepEqual([second.status, second.responseStatusCode], [0, 200], 'delivered: not sent again');
      for (const t of timers) clearInterval(t);
      await running.close();
      await rx.close();
    });

    test('Retry-After is honoured within [scheduled delay, 2 × scheduled delay]', async () => {
      const running = await start({ retrySchedule: [0, 300] }, driver);
      let n = 0;
      const rx = await startReceiver({
        handle: (_hit, res) => res.writeHead(++n === 1 ? 503 : 200, { 'retry-after': '5' }).end(),
      });
      const { appId } = await setup(running, rx.url);
      await publish(running, appId);
      await until('second try', () => rx.requests.length === 2 || undefined);
      const gap = rx.requests[1]!.at - rx.requests[0]!.at;
      assert.ok(gap >= 550, `Retry-After: 5 clamps to 2 × 300 ms, got a gap of ${gap} ms`);
      await running.close();
      await rx.close();
    });

    test('without an allowlist, a hostname resolving to loopback is refused and nothing is sent', async () => {
      const running = await start({ allowSubnets: [] }, driver);
      const rx = await startReceiver({ handle: (_hit, res) => res.writeHead(200).end() });
      const literal = await api(running.url, 'POST', '/app', { name: 'ssrf' });
      const refused = await api(running.url, 'POST', `/app/${literal.body.id}/endpoint`, { url: rx.url });
      assert.equal(refused.status, 422);
      assert.match(JSON.stringify(refused.body), /url/);
      const named = await api(running.url, 'POST', `/app/${literal.body.id}/endpoint`, {
        url: `http://localhost:${rx.port}/hook`,
      });
      assert.equal(named.status, 422, 'localhost names loopback (RFC 6761)');
      assert.match(JSON.stringify(named.body), /blocked address localhost \(loopback\)/);
      // A name DNS resolves to loopback is only found at delivery: one made so after the endpoint was.
      const { appId, epId } = await setup(running, 'http://hooks.example.invalid/hook');
      const stored = (await running.store.endpoints.get(appId, epId))!;
      const moved = { ...stored, url: `http://localhost:${rx.port}/hook` };
      assert.equal(await running.store.endpoints.update(moved, stored), true);
      const msgId = await publish(running, appId);
      const first = await until('attempt', async () => (await attempts(running, appId, msgId))[0]);
      assert.equal(first.status, 2);
      assert.match(first.response, /^blocked address (127\.0\.0\.1|::1) \(loopback, from localhost\)$/);
      assert.equal(rx.requests.length, 0);
      await running.close();
      await rx.close();
    });
  });
});
