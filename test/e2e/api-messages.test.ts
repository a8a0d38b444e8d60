import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newId } from '../../src/core/ids.ts';
import { describeEachDriver } from '../support/in-process.ts';
import { ADMIN, type Harness, harness } from './api-harness.ts';

// Messages, attempts, resend and recover, idempotency, and app-portal tokens over the API.

await describeEachDriver((driver) => {
  let h: Harness;
  before(async () => {
    h = await harness(driver);
    await h.call('POST', '/api/v1/event-type', {
      name: 'invoice.paid',
      description: 'paid',
      schemas: { '1': { type: 'object', examples: [{ id: 1 }] } },
    });
  });
  after(async () => {
    await h.close();
  });

  describe('messages', () => {
    test('publish keeps the payload bytes, eventId lookups and conflicts, with_content, app auto-create', async () => {
      const raw = '{"amount": 123456789012345678901234567890, "z": 1, "a": [1.50, "x"]}';
      const body = `{"eventType":"invoice.paid","eventId":"evt-1","payload":${raw},"application":{"name":"Auto","uid":"auto-app"}}`;
      const res = await h.call('POST', '/api/v1/app/auto-app/msg', body);
      assert.equal(res.status, 202);
      assert.match(res.json.id, /^msg_/);
      assert.ok(res.body.includes('123456789012345678901234567890'), 'response keeps the big integer');
      assert.ok(h.wakes() > 0, 'the worker is woken after the commit');

      const app = await h.store.apps.get('auto-app');
      assert.ok(app, 'MessageIn.application created the app');
      const stored = await h.store.messages.get(app.id, res.json.id);
      assert.equal(stored?.payload, raw, 'stored payload is the exact raw text');

      const byEventId = await h.call('GET', '/api/v1/app/auto-app/msg/evt-1');
      assert.equal(byEventId.json.id, res.json.id);
      const lean = await h.call('GET', `/api/v1/app/auto-app/msg/${res.json.id}?with_content=false`);
      assert.deepEqual(lean.json.payload, {}, 'payload is required in MessageOut');

      const dup = await h.call('POST', '/api/v1/app/auto-app/msg', body);
      assert.equal(dup.status, 409);
      assert.equal(dup.json.code, 'conflict');

      const noContent = await h.call('POST', '/api/v1/app/auto-app/msg?with_content=false', {
        eventType: 'x',
        payload: { a: 1 },
      });
      assert.equal(noContent.status, 202);
      assert.deepEqual(noContent.json.payload, {});

      const missing = await h.call('POST', '/api/v1/app/no-such-app/msg', { eventType: 'x', payload: {} });
      assert.equal(missing.status, 404);

      const list = await h.call('GET', '/api/v1/app/auto-app/msg?event_types=invoice.paid');
      assert.deepEqual(
        list.json.data.map((m: { id: string }) => m.id),
        [res.json.id],
      );

      assert.equal((await h.call('DELETE', `/api/v1/app/auto-app/msg/${res.json.id}/content`)).status, 204);
      assert.equal((await h.store.messages.get(app.id, res.json.id))?.payload, null);
      const expunged = await h.call('GET', `/api/v1/app/auto-app/msg/${res.json.id}`);
      assert.deepEqual(expunged.json.payload, { expired: true }, 'an expunged payload says so, as in Svix');
    });

    test("expunge-all-contents drops every payload of the application, as the Svix SDK's expungeAllContents asks", async () => {
      await h.call('POST', '/api/v1/app', { name: 'Purge', uid: 'purge' });
      await h.call('POST', '/api/v1/app', { name: 'Keep', uid: 'keep' });
      const sent: string[] = [];
      for (let i = 0; i < 3; i++)
        sent.push(
          (await h.call('POST', '/api/v1/app/purge/msg', { eventType: 'x', payload: { i } })).json.id,
        );
      // A message whose id is the operation's last segment stays a message.
      const named = await h.call('POST', '/api/v1/app/purge/msg', {
        eventType: 'x',
        eventId: 'expunge-all-contents',
        payload: { named: true },
      });
      sent.push(named.json.id);
      const kept = await h.call('POST', '/api/v1/app/keep/msg', { eventType: 'x', payload: { kept: true } });
      const res = await h.call('POST', '/api/v1/app/purge/msg/expunge-all-contents');
      assert.equal(res.status, 202, res.body);
      assert.match(res.json.id, /^qtask_/);
      assert.deepEqual([res.json.status, res.json.task], ['finished', 'application.purge_content']);
      assert.ok(!Number.isNaN(Date.parse(res.json.updatedAt)));
      for (const id of sent) {
        const msg = await h.call('GET', `/api/v1/app/purge/msg/${id}`);
        assert.deepEqual(msg.json.payload, { expired: true }, id);
      }
      const byEventId = await h.call('GET', '/api/v1/app/purge/msg/expunge-all-contents');
      assert.deepEqual([byEventId.status, byEventId.json.id], [200, named.json.id]);
      const other = await h.call('GET', `/api/v1/app/keep/msg/${kept.json.id}`);
      assert.deepEqual(other.json.payload, { kept: true }, 'another application keeps its payloads');
      // A message published afterwards keeps its payload.
      const after = await h.call('POST', '/api/v1/app/purge/msg', { eventType: 'x', payload: { after: 1 } });
      assert.deepEqual((await h.call('GET', `/api/v1/app/purge/msg/${after.json.id}`)).json.payload, {
        after: 1,
      });
      assert.equal((await h.call('POST', '/api/v1/app/nope/msg/expunge-all-contents')).status, 404);
    });

    test('fan-out, attempted destinations and messages, attempts, resend, recover, send-example', async () => {
      await h.call('POST', '/api/v1/app', { name: 'F', uid: 'fan' });
      await h.call('POST', '/api/v1/event-type', { name: 'other', description: '' });
      const ep = (
        await h.call('POST', '/api/v1/app/fan/endpoint', {
          url: 'https://example.com/f',
          uid: 'f1',
          filterTypes: ['invoice.paid'],
        })
      ).json;
      await h.call('POST', '/api/v1/app/fan/endpoint', {
        url: 'https://example.com/g',
        filterTypes: ['other'],
      });
      const msg = (
        await h.call('POST', '/api/v1/app/fan/msg', { eventType: 'invoice.paid', payload: { n: 1 } })
      ).json;

      const dests = await h.call('GET', `/api/v1/app/fan/msg/${msg.id}/endpoint`);
      assert.deepEqual(
        dests.json.data.map((d: { id: string }) => d.id),
        [ep.id],
      );
      assert.equal(dests.json.data[0].statusText, 'pending');
      const attempted = await h.call('GET', '/api/v1/app/fan/endpoint/f1/msg');
      assert.equal(attempted.json.data[0].id, msg.id);
      assert.equal(attempted.json.data[0].status, 1);
      assert.deepEqual(attempted.json.data[0].payload, { n: 1 });

      // Record one failed attempt the way the worker does.
      const app = (await h.store.apps.get('fan'))!;
      const now = Date.UTC(2031, 0, 1);
      const [claimed] = await h.store.tasks.claimDue({ now, limit: 10, leaseMs: 30_000, perEndpoint: 10 });
      assert.ok(claimed);
      await h.store.tasks.finish([
        {
          taskId: claimed.task.id,
          lease: claimed.task.leaseUntil,
          now,
          next: { status: 'fail' },
          attempt: {
            // Like the worker's: the id embeds createdAt (the PostgreSQL driver finds the row by it).
            id: newId('atmpt', now),
            appId: app.id,
            msgId: msg.id,
            endpointId: ep.id,
            url: ep.url,
            status: 'fail',
            responseStatusCode: 500,
            response: 'boom',
            responseDurationMs: 12,
            triggerType: 'scheduled',
            createdAt: now,
          },
        },
      ]);
      const byEndpoint = await h.call('GET', `/api/v1/app/fan/attempt/endpoint/${ep.id}`);
      assert.equal(byEndpoint.json.data.length, 1);
      const attempt = byEndpoint.json.data[0];
      assert.deepEqual(
        {
          status: attempt.status,
          statusText: attempt.statusText,
          code: attempt.responseStatusCode,
          trigger: attempt.triggerType,
        },
        { status: 2, statusText: 'fail', code: 500, trigger: 0 },
      );
      assert.equal(attempt.response, 'boom');
      const lean = await h.call('GET', `/api/v1/app/fan/attempt/endpoint/${ep.id}?with_content=false`);
      assert.equal(lean.json.data[0].response, '{}', 'as Svix answers without content');
      // with_msg: each attempt with its message, the payload as published.
      const withMsg = await h.call('GET', `/api/v1/app/fan/attempt/endpoint/${ep.id}?with_msg=true`);
      assert.deepEqual(withMsg.json.data[0], {
        ...attempt,
        msg: (await h.call('GET', `/api/v1/app/fan/msg/${msg.id}`)).json,
      });
      const leanMsg = `/api/v1/app/fan/attempt/endpoint/${ep.id}?with_msg=true&with_content=false`;
      assert.deepEqual((await h.call('GET', leanMsg)).json.data[0].msg.payload, {});
      const byMsg = await h.call('GET', `/api/v1/app/fan/attempt/msg/${msg.id}?status=2`);
      assert.equal(byMsg.json.data[0].id, attempt.id);
      assert.equal(
        (await h.call('GET', `/api/v1/app/fan/attempt/msg/${msg.id}?status=0`)).json.data.length,
        0,
      );
      const one = await h.call('GET', `/api/v1/app/fan/msg/${msg.id}/attempt/${attempt.id}`);
      assert.equal(one.json.response, 'boom');
      assert.equal(
        (await h.call('DELETE', `/api/v1/app/fan/msg/${msg.id}/attempt/${attempt.id}/content`)).status,
        204,
      );
      const stats = await h.call('GET', '/api/v1/app/fan/endpoint/f1/stats');
      assert.equal(stats.json.fail, 1);
      // until is exclusive and kept to the millisecond: microseconds past it (Python, Go) keep that one.
      const msgAt = new Date(msg.timestamp).toISOString();
      const failUntil = async (until: string) =>
        (await h.call('GET', `/api/v1/app/fan/endpoint/f1/stats?until=${until.replace('Z', '001Z')}`)).json
          .fail;
      assert.deepEqual(
        [await failUntil(msgAt), await failUntil(new Date(Date.parse(msgAt) - 1).toISOString())],
        [1, 0],
      );

      const recover = (range: object) => h.call('POST', '/api/v1/app/fan/endpoint/f1/recover', range);
      const future = '2100-01-01T00:00:00Z'; // past the harness's clock
      const early = await recover({ since: future });
      assert.deepEqual([early.status, early.json.detail[0].loc], [422, ['body', 'since']]);
      const inverted = await recover({ since: future, until: new Date(0).toISOString() });
      assert.deepEqual([inverted.status, inverted.json.detail[0].loc], [422, ['body', 'until']]);
      const wakesBefore = h.wakes();
      const recovered = await h.call('POST', '/api/v1/app/fan/endpoint/f1/recover', {
        since: new Date(0).toISOString(),
      });
      assert.equal(recovered.status, 202);
      assert.match(recovered.json.id, /^qtask_/);
      assert.equal(recovered.json.task, 'endpoint.recover');
      assert.equal(recovered.json.status, 'running', 'BackgroundTaskStatus allows only running');
      const afterRecover = (await h.call('GET', '/api/v1/app/fan/endpoint/f1/stats')).json;
      assert.deepEqual(
        [afterRecover.fail, afterRecover.pending],
        [1, 0],
        'shown failed until its manual attempt ends, as in Svix',
      );
      const queued = await h.store.tasks.get(msg.id, ep.id);
      assert.deepEqual(
        [queued?.status, queued?.trigger],
        ['pending', 'manual'],
        'its manual attempt is queued',
      );
      const resent = await h.call('POST', `/api/v1/app/fan/msg/${msg.id}/endpoint/f1/resend`);
      assert.equal(resent.status, 202);
      assert.ok(h.wakes() >= wakesBefore + 2);

      const example = await h.call('POST', '/api/v1/app/fan/endpoint/f1/send-example', {
        eventType: 'invoice.paid',
      });
      assert.equal(example.status, 200);
      assert.deepEqual(example.json.payload, { id: 1 });
      const exampleDests = await h.call('GET', `/api/v1/app/fan/msg/${example.json.id}/endpoint`);
      assert.deepEqual(
        exampleDests.json.data.map((d: { id: string }) => d.id),
        [ep.id],
      );
      assert.equal(
        (await h.call('POST', '/api/v1/app/fan/endpoint/f1/send-example', { eventType: 'nope' })).status,
        404,
      );
      // exampleIndex picks an example; past the examples it is a 422 naming it.
      const schemas = { '1': { examples: [{ n: 'first' }, { n: 'second' }] } };
      await h.call('POST', '/api/v1/event-type', { name: 'two.examples', description: 'd', schemas });
      const second = await h.call('POST', '/api/v1/app/fan/endpoint/f1/send-example', {
        eventType: 'two.examples',
        exampleIndex: 1,
      });
      assert.deepEqual(second.json.payload, { n: 'second' });
      const past = await h.call('POST', '/api/v1/app/fan/endpoint/f1/send-example', {
        eventType: 'invoice.paid',
        exampleIndex: 1,
      });
      assert.deepEqual([past.status, past.json.detail?.[0]?.loc], [422, ['body', 'exampleIndex']]);
      // A payload is a JSON object: an example that is not one is not sent.
      const odd = { '1': { examples: [{ ok: true }, 'text', null, [1], 7] } };
      await h.call('POST', '/api/v1/event-type', { name: 'odd.examples', description: 'd', schemas: odd });
      const before = (await h.call('GET', '/api/v1/app/fan/msg?limit=250')).json.data.length;
      for (const exampleIndex of [1, 2, 3, 4]) {
        const res = await h.call('POST', '/api/v1/app/fan/endpoint/f1/send-example', {
          eventType: 'odd.examples',
          exampleIndex,
        });
        assert.deepEqual([res.status, res.json.detail?.[0]?.loc], [422, ['body', 'exampleIndex']]);
      }
      assert.equal((await h.call('GET', '/api/v1/app/fan/msg?limit=250')).json.data.length, before);
      // Svix's test event needs no event type of that name.
      const ping = await h.call('POST', '/api/v1/app/fan/endpoint/f1/send-example', {
        eventType: 'svix.ping',
      });
      assert.equal(ping.status, 200);
      assert.deepEqual([ping.json.eventType, ping.json.payload], ['svix.ping', { success: true }]);
    });

    test("with_msg: a page of attempts holds their messages within a page's bytes, forwards and back", async (t) => {
      // A harness of its own: the claim below takes every task due, and other tests' are theirs.
      const h = await harness(driver);
      t.after(() => h.close());
      await h.call('POST', '/api/v1/event-type', { name: 'invoice.paid', description: 'paid' });
      await h.call('POST', '/api/v1/app', { name: 'W', uid: 'with-msg' });
      const ep = (await h.call('POST', '/api/v1/app/with-msg/endpoint', { url: 'https://example.com/w' }))
        .json;
      // Five messages of 0.9 MiB: four fit on a page (4 MiB), the fifth goes to the next.
      const payload = { text: 'x'.repeat(900 * 1024) };
      for (let i = 0; i < 5; i++)
        await h.call('POST', '/api/v1/app/with-msg/msg', { eventType: 'invoice.paid', payload });
      const app = (await h.store.apps.get('with-msg'))!;
      const now = Date.UTC(2031, 0, 1);
      const claimed = await h.store.tasks.claimDue({ now, limit: 10, leaseMs: 30_000, perEndpoint: 10 });
      assert.equal(claimed.length, 5);
      await h.store.tasks.finish(
        claimed.map((c, i) => ({
          taskId: c.task.id,
          lease: c.task.leaseUntil,
          now,
          next: { status: 'success' },
          attempt: {
            id: newId('atmpt', now + i),
            appId: app.id,
            msgId: c.task.msgId,
            endpointId: ep.id,
            url: ep.url,
            status: 'success',
            responseStatusCode: 200,
            response: 'ok',
            responseDurationMs: 1,
            triggerType: 'scheduled',
            createdAt: now + i,
          },
        })),
      );
      const url = `/api/v1/app/with-msg/attempt/endpoint/${ep.id}?with_msg=true&limit=250`;
      const all = (await h.call('GET', `/api/v1/app/with-msg/attempt/endpoint/${ep.id}?limit=250`)).json;
      const ids = all.data.map((a: { id: string }) => a.id);
      assert.equal(ids.length, 5);
      const first = (await h.call('GET', url)).json;
      assert.deepEqual(
        first.data.map((a: { id: string }) => a.id),
        ids.slice(0, 4),
      );
      assert.equal(first.done, false);
      assert.deepEqual(first.data[0].msg.payload, payload);
      const second = (await h.call('GET', `${url}&iterator=${first.iterator}`)).json;
      assert.deepEqual(
        second.data.map((a: { id: string }) => a.id),
        ids.slice(4),
      );
      assert.equal(second.done, true);
      // Back from the last one: the four before it, in the same order.
      const back = (await h.call('GET', `${url}&iterator=${second.prevIterator}`)).json;
      assert.deepEqual(
        back.data.map((a: { id: string }) => a.id),
        ids.slice(0, 4),
      );
    });

    test("an event type's schemas are kept as written, and send-example sends their example's exact text", async () => {
      await h.call('POST', '/api/v1/app', { name: 'X', uid: 'exact-ex' });
      const ep = await h.call('POST', '/api/v1/app/exact-ex/endpoint', { url: 'https://example.com/x' });
      const app = (await h.store.apps.get('exact-ex'))!;
      // Each would change if parsed and serialised again: an integer past 2^53, 1.0, an integer-like key
      // (JavaScript moves it first), a repeated key, spacing and escapes.
      const example =
        '{ "big": 12345678901234567890, "f": 1.0, "u": "\\u00e9", "z": 1, "2": "two", "k": 1, "k": 2 }';
      const first = `{"examples": [ {"first": 1.50}, ${example} ], "type" : "object"}`;
      const schemas = (newest: string) => `{ "1": ${first}, "2": ${newest} }`;
      const sendExample = async (exampleIndex: number) => {
        const res = await h.call('POST', `/api/v1/app/exact-ex/endpoint/${ep.json.id}/send-example`, {
          eventType: 'exact.example',
          exampleIndex,
        });
        assert.equal(res.status, 200, res.body);
        assert.ok(res.body.endsWith(`"payload":${example}}`), res.body);
        return (await h.store.messages.get(app.id, res.json.id))?.payload;
      };
      const created = await h.call(
        'POST',
        '/api/v1/event-type',
        `{"name":"exact.example","description":"d","schemas":${schemas(first)}}`,
      );
      assert.equal(created.status, 201, created.body);
      assert.ok(created.body.includes(`"schemas":${schemas(first)}`), created.body);
      const got = await h.call('GET', '/api/v1/event-type/exact.example');
      assert.ok(got.body.includes(`"schemas":${schemas(first)}`), got.body);
      const listed = await h.call('GET', '/api/v1/event-type?with_content=true');
      assert.ok(listed.body.includes(`"schemas":${schemas(first)}`), listed.body);
      assert.equal(await sendExample(1), example);
      // The newest version's examples are the ones sent; its `example` counts when it has no `examples`.
      const replaced = await h.call(
        'PUT',
        '/api/v1/event-type/exact.example',
        `{"description":"d","schemas":${schemas(`{"example":${example}}`)}}`,
      );
      assert.equal(replaced.status, 200, replaced.body);
      assert.equal(await sendExample(0), example);
      const patched = await h.call(
        'PATCH',
        '/api/v1/event-type/exact.example',
        `{"schemas":${schemas(`{"examples":[{},${example}]}`)}}`,
      );
      assert.ok(patched.body.includes(`"schemas":${schemas(`{"examples":[{},${example}]}`)}`), patched.body);
      assert.equal(await sendExample(1), example);
    });

    test('an unknown application id is a 404 for PUT and for inline creation; a uid creates once', async () => {
      const ghost = newId('app', Date.now());
      for (let i = 0; i < 2; i++) {
        assert.equal((await h.call('PUT', `/api/v1/app/${ghost}`, { name: 'x' })).status, 404);
        const msg = await h.call('POST', `/api/v1/app/${ghost}/msg`, {
          eventType: 'a',
          payload: {},
          application: { name: 'x' },
        });
        assert.equal(msg.status, 404);
      }
      const first = await h.call('PUT', '/api/v1/app/put-once', { name: 'x' });
      const again = await h.call('PUT', '/api/v1/app/put-once', { name: 'y' });
      assert.deepEqual([first.status, again.status], [201, 200]);
      assert.equal(again.json.id, first.json.id, 'the repeat finds the app the first PUT made');
      const names = (await h.call('GET', '/api/v1/app?limit=250')).json.data.map(
        (a: { name: string }) => a.name,
      );
      assert.ok(!names.includes('x'), 'nothing was created for the unknown id');
    });

    test('the same PUT repeated answers as the first did when the body names another uid than the path', async () => {
      const put = (path: string, body: object) => h.call('PUT', `/api/v1/app/${path}`, body);
      const made = await put('put-path', { name: 'a', uid: 'put-body' });
      const again = await put('put-path', { name: 'a', uid: 'put-body' });
      assert.deepEqual([made.status, again.status, again.json.id], [201, 200, made.json.id]);
      assert.equal((await h.call('GET', '/api/v1/app/put-path')).status, 404, 'created under the body uid');

      const url = 'https://example.com/put';
      const ep = await put('put-body/endpoint/ep-path', { url, uid: 'ep-body' });
      const epAgain = await put('put-body/endpoint/ep-path', { url, uid: 'ep-body', description: 'd' });
      assert.deepEqual([ep.status, epAgain.status, epAgain.json.id], [201, 200, ep.json.id]);
      assert.equal(epAgain.json.description, 'd');

      const renamed = await put('put-body', { name: 'b', uid: 'put-renamed' });
      const renamedAgain = await put('put-body', { name: 'b', uid: 'put-renamed' });
      assert.deepEqual([renamed.status, renamedAgain.status], [200, 200]);
      assert.equal(renamedAgain.json.id, made.json.id);
      const epRenamed = await put('put-renamed/endpoint/ep-body', { url, uid: 'ep-renamed' });
      const epRenamedAgain = await put('put-renamed/endpoint/ep-body', { url, uid: 'ep-renamed' });
      assert.deepEqual([epRenamed.status, epRenamedAgain.status], [200, 200]);
      assert.equal(epRenamedAgain.json.id, ep.json.id);
      assert.equal((await h.call('GET', '/api/v1/app/put-renamed/endpoint')).json.data.length, 1);

      // An unknown id in the path is still a 404, whatever the body's uid names.
      const ghost = await put(newId('app', Date.now()), { name: 'c', uid: 'put-renamed' });
      const epGhost = await put(`put-renamed/endpoint/${newId('ep', Date.now())}`, {
        url,
        uid: 'ep-renamed',
      });
      assert.deepEqual([ghost.status, epGhost.status], [404, 404]);
    });

    test('inline creation takes the uid of the path, named in the body; otherwise 422 and nothing is made', async () => {
      const publish = (application: object) =>
        h.call('POST', '/api/v1/app/inline-app/msg', { eventType: 'a', payload: {}, application });
      for (const [application, msg] of [
        [{ name: 'x' }, /must be set to "inline-app"/],
        [{ name: 'x', uid: 'other-app' }, /must match the application uid in the path/],
      ] as const) {
        const res = await publish(application);
        assert.equal(res.status, 422);
        assert.deepEqual(res.json.detail[0].loc, ['body', 'application', 'uid']);
        assert.match(res.json.detail[0].msg, msg);
      }
      const portal = await h.call('POST', '/api/v1/auth/app-portal-access/inline-app', {
        application: { name: 'x', uid: 'other-app' },
      });
      assert.deepEqual(portal.json.detail[0].loc, ['body', 'application', 'uid']);
      for (const uid of ['inline-app', 'other-app']) {
        assert.equal((await h.call('GET', `/api/v1/app/${uid}`)).status, 404, `${uid} was not created`);
      }
      assert.equal((await publish({ name: 'x', uid: 'inline-app' })).status, 202);
      assert.equal((await h.call('GET', '/api/v1/app/inline-app')).json.name, 'x');
      const issued = await h.call('POST', '/api/v1/auth/app-portal-access/inline-app', {});
      assert.deepEqual(
        [issued.status, issued.headers['cache-control']],
        [200, 'no-store'],
        'a token: not cached',
      );
    });

    test('an app-portal request refused for its capabilities creates no application', async () => {
      const application = { name: 'x', uid: 'refused-portal' };
      const res = await h.call('POST', '/api/v1/auth/app-portal-access/refused-portal', {
        application,
        capabilities: ['ManageEndpoint'],
      });
      assert.deepEqual([res.status, res.json.detail?.[0]?.loc], [422, ['body', 'capabilities']]);
      assert.equal((await h.call('GET', '/api/v1/app/refused-portal')).status, 404);
    });

    test('a message whose payload was expunged cannot be resent (400), and nothing is queued', async () => {
      await h.call('POST', '/api/v1/app', { name: 'Gone', uid: 'gone' });
      await h.call('POST', '/api/v1/app/gone/endpoint', { url: 'https://example.com/', uid: 'gone-ep' });
      const msg = await h.call('POST', '/api/v1/app/gone/msg', { eventType: 'a', payload: { a: 1 } });
      assert.equal((await h.call('DELETE', `/api/v1/app/gone/msg/${msg.json.id}/content`)).status, 204);
      const before = (await h.call('GET', '/api/v1/app/gone/endpoint/gone-ep/stats')).json;
      const res = await h.call('POST', `/api/v1/app/gone/msg/${msg.json.id}/endpoint/gone-ep/resend`);
      assert.equal(res.status, 400);
      assert.equal(res.json.code, 'generic_error');
      assert.match(res.json.detail, /expunged/);
      assert.deepEqual((await h.call('GET', '/api/v1/app/gone/endpoint/gone-ep/stats')).json, before);
    });

    test('resend only to an endpoint the message was sent to (404), and not to a disabled one (409)', async () => {
      await h.call('POST', '/api/v1/app', { name: 'R', uid: 'rs' });
      await h.call('POST', '/api/v1/app/rs/endpoint', {
        url: 'https://example.com/a',
        uid: 'rs-a',
      });
      await h.call('POST', '/api/v1/app/rs/endpoint', {
        url: 'https://example.com/b',
        uid: 'rs-b',
        channels: ['elsewhere'],
      });
      const msg = (await h.call('POST', '/api/v1/app/rs/msg', { eventType: 'a', payload: {} })).json;
      const untargeted = await h.call('POST', `/api/v1/app/rs/msg/${msg.id}/endpoint/rs-b/resend`);
      assert.equal(untargeted.status, 404);
      assert.equal(untargeted.json.code, 'not_found');
      assert.match(untargeted.json.detail, /not sent to this endpoint/);
      assert.deepEqual(
        (await h.call('GET', `/api/v1/app/rs/msg/${msg.id}/endpoint`)).json.data.length,
        1,
        'no delivery was created for the other endpoint',
      );

      await h.call('PATCH', '/api/v1/app/rs/endpoint/rs-a', { disabled: true });
      const before = (await h.call('GET', '/api/v1/app/rs/endpoint/rs-a/stats')).json;
      const disabled = await h.call('POST', `/api/v1/app/rs/msg/${msg.id}/endpoint/rs-a/resend`);
      assert.equal(disabled.status, 409);
      assert.equal(disabled.json.code, 'conflict');
      assert.match(disabled.json.detail, /disabled/);
      // Nor recover, replay or send-example: their attempts could only be recorded as not sent.
      const since = new Date(Date.UTC(2029, 0, 1)).toISOString();
      for (const [path, body] of [
        ['recover', { since }],
        ['replay-missing', { since }],
        ['send-example', { eventType: 'svix.ping' }],
      ] as const) {
        const refused = await h.call('POST', `/api/v1/app/rs/endpoint/rs-a/${path}`, body);
        assert.deepEqual([refused.status, refused.json.code], [409, 'conflict'], path);
      }
      assert.deepEqual((await h.call('GET', '/api/v1/app/rs/endpoint/rs-a/stats')).json, before);
      await h.call('PATCH', '/api/v1/app/rs/endpoint/rs-a', { disabled: false });
      assert.equal((await h.call('POST', `/api/v1/app/rs/msg/${msg.id}/endpoint/rs-a/resend`)).status, 202);
    });

    test('idempotency-key replays the first status and body', async () => {
      await h.call('POST', '/api/v1/app', { name: 'I', uid: 'idem' });
      const key = { 'idempotency-key': 'k-1' };
      const [first, second] = await Promise.all([
        h.call('POST', '/api/v1/app/idem/msg', { eventType: 'a', payload: { v: 1 } }, key),
        h.call('POST', '/api/v1/app/idem/msg', { eventType: 'a', payload: { v: 1 } }, key),
      ]);
      assert.equal(first.status, 202);
      assert.equal(second.status, 202);
      assert.equal(second.body, first.body);
      const third = await h.call('POST', '/api/v1/app/idem/msg', { eventType: 'a', payload: { v: 1 } }, key);
      assert.equal(third.body, first.body);
      const list = await h.call('GET', '/api/v1/app/idem/msg');
      assert.equal(list.json.data.length, 1, 'one message despite three requests');
      const other = await h.call(
        'POST',
        '/api/v1/app/idem/msg',
        { eventType: 'a', payload: { v: 1 } },
        { 'idempotency-key': 'k-2' },
      );
      assert.notEqual(other.json.id, first.json.id);
      // The same path however it is spelled: a trailing slash, a percent-escape.
      for (const path of ['/api/v1/app/idem/msg/', '/api/v1/app/%69dem/msg']) {
        const again = await h.call('POST', path, { eventType: 'a', payload: { v: 1 } }, key);
        assert.equal(again.body, first.body, path);
      }
      assert.equal((await h.call('GET', '/api/v1/app/idem/msg')).json.data.length, 2);
    });

    test('idempotency-key: another body with the key is a 422 naming it, and a token replayed is not cached', async () => {
      await h.call('POST', '/api/v1/app', { name: 'I', uid: 'idem-b' });
      const mint = (body: object) =>
        h.call('POST', '/api/v1/auth/app-portal-access/idem-b', body, { 'idempotency-key': 'k-token' });
      const full = await mint({});
      assert.equal(full.status, 200);
      // The full token minted first is never the answer to a read-only one.
      const readOnly = await mint({ readOnly: true });
      assert.equal(readOnly.status, 422);
      assert.deepEqual(readOnly.json.detail[0].loc, ['header', 'idempotency-key']);
      const again = await mint({});
      assert.equal(again.body, full.body);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.equal(again.headers['cache-control'], 'no-store');
      // Two bodies at once: one runs, the other is refused once it has.
      const key = { 'idempotency-key': 'k-pair' };
      const pair = await Promise.all(
        [1, 2].map((v) => h.call('POST', '/api/v1/app/idem-b/msg', { eventType: 'a', payload: { v } }, key)),
      );
      assert.deepEqual(pair.map((r) => r.status).sort(), [202, 422]);
      assert.equal((await h.call('GET', '/api/v1/app/idem-b/msg')).json.data.length, 1);
    });

    test('idempotency-key: a publish is answered for its key in its own commit, so a repeat after a crash replays it', async () => {
      await h.call('POST', '/api/v1/app', { name: 'I', uid: 'idem-k' });
      const key = { 'idempotency-key': 'k-crash' };
      const body = { eventType: 'a', payload: { v: 1 } };
      // As if the process died once the message was committed: nothing it would write after it lands.
      const { put, abandon } = h.store.idempotency;
      const killed = async () => {
        throw new Error('the process died');
      };
      Object.assign(h.store.idempotency, { put: killed, abandon: killed });
      try {
        await h.call('POST', '/api/v1/app/idem-k/msg', body, key);
        await h.call('POST', '/api/v1/app/idem-k/endpoint', { url: 'https://example.com/k', uid: 'k' });
        await h.call('POST', '/api/v1/app/idem-k/endpoint/k/send-example', { eventType: 'svix.ping' }, key);
      } finally {
        Object.assign(h.store.idempotency, { put, abandon });
      }
      const published = (await h.call('GET', '/api/v1/app/idem-k/msg')).json.data;
      assert.equal(published.length, 2);
      const again = await h.call('POST', '/api/v1/app/idem-k/msg', body, key);
      assert.deepEqual([again.status, again.headers['idempotent-replayed']], [202, 'true']);
      assert.equal(again.json.id, published[1].id);
      const example = await h.call(
        'POST',
        '/api/v1/app/idem-k/endpoint/k/send-example',
        { eventType: 'svix.ping' },
        key,
      );
      assert.deepEqual([example.status, example.json.id], [200, published[0].id]);
      assert.equal(
        (await h.call('GET', '/api/v1/app/idem-k/msg')).json.data.length,
        2,
        'none published again',
      );
    });

    test('idempotency-key: a repeat after the payload was expunged or the message deleted does not show the payload', async () => {
      await h.call('POST', '/api/v1/app', { name: 'I', uid: 'idem-x' });
      const publish = (key: string, query = '') =>
        h.call(
          'POST',
          `/api/v1/app/idem-x/msg${query}`,
          '{"eventType":"a","payload":{ "ssn" : "078-05-1120" }}',
          {
            'idempotency-key': key,
            'content-type': 'application/json',
          },
        );
      const first = await publish('k-x');
      assert.equal((await publish('k-x')).body, first.body, 'the payload bytes as sent, before');
      const bare = await publish('k-bare', '?with_content=false');
      assert.equal(bare.json.payload && JSON.stringify(bare.json.payload), '{}');
      for (const id of [first.json.id, bare.json.id]) {
        assert.equal((await h.call('DELETE', `/api/v1/app/idem-x/msg/${id}/content`)).status, 204);
      }
      const expunged = await publish('k-x');
      assert.deepEqual([expunged.status, expunged.json.id], [202, first.json.id]);
      assert.deepEqual(expunged.json.payload, { expired: true });
      assert.equal((await publish('k-bare', '?with_content=false')).body, bare.body);
      // send-example answers with its message too.
      await h.call('POST', '/api/v1/app/idem-x/endpoint', { url: 'https://example.com/x', uid: 'x' });
      const example = () =>
        h.call(
          'POST',
          '/api/v1/app/idem-x/endpoint/x/send-example',
          { eventType: 'svix.ping' },
          {
            'idempotency-key': 'k-example',
          },
        );
      const sent = await example();
      assert.deepEqual(sent.json.payload, { success: true });
      await h.call('DELETE', `/api/v1/app/idem-x/msg/${sent.json.id}/content`);
      assert.deepEqual((await example()).json.payload, { expired: true });

      assert.equal((await h.call('DELETE', '/api/v1/app/idem-x')).status, 204);
      const deleted = await publish('k-x');
      assert.deepEqual({ ...deleted.json, payload: undefined }, { ...first.json, payload: undefined });
      assert.deepEqual(deleted.json.payload, { expired: true });
      assert.doesNotMatch(deleted.body, /078-05-1120/);
    });

    test('idempotency-key: an empty, over-long or non-ASCII key is a 422 naming the header, and publishes nothing', async () => {
      await h.call('POST', '/api/v1/app', { name: 'K', uid: 'idem-bad' });
      const publish = (key: string) =>
        h.call(
          'POST',
          '/api/v1/app/idem-bad/msg',
          { eventType: 'a', payload: {} },
          { 'idempotency-key': key },
        );
      for (const [key, why] of [
        ['', 'must not be empty'],
        ['  ', 'must not be empty'],
        ['k'.repeat(256), 'must be at most 255 characters'],
        ['clé', 'must be printable ASCII'],
      ] as const) {
        const refused = await publish(key);
        assert.equal(refused.status, 422, JSON.stringify(key));
        assert.deepEqual(refused.json.detail[0].loc, ['header', 'idempotency-key']);
        assert.equal(refused.json.detail[0].msg, why);
      }
      // Two lines, which HTTP would join into one key "k1, k2".
      const twice = await h.app.inject({
        method: 'POST',
        url: '/api/v1/app/idem-bad/msg',
        headers: { authorization: `Bearer ${ADMIN}`, 'idempotency-key': ['k1', 'k2'] },
        payload: { eventType: 'a', payload: {} },
      });
      assert.equal(twice.statusCode, 422, twice.body);
      assert.deepEqual(twice.json().detail[0], {
        loc: ['header', 'idempotency-key'],
        msg: 'must be given once',
        type: 'value_error',
      });
      assert.equal((await h.call('GET', '/api/v1/app/idem-bad/msg')).json.data.length, 0);
      assert.equal((await publish(`k-${'k'.repeat(253)}`)).status, 202, '255 characters');
    });

    test('idempotency-key: a failed first request is not replayed; each token has its own replays', async () => {
      const key = { 'idempotency-key': 'k-fail' };
      const body = { eventType: 'a', payload: {} };
      assert.equal((await h.call('POST', '/api/v1/app/not-yet/msg', body, key)).status, 404);
      await h.call('POST', '/api/v1/app', { name: 'N', uid: 'not-yet' });
      const corrected = await h.call('POST', '/api/v1/app/not-yet/msg', body, key);
      assert.equal(corrected.status, 202, 'the 404 was not kept');

      const token = async () =>
        (await h.call('POST', '/api/v1/auth/app-portal-access/not-yet', {})).json.token as string;
      const [t1, t2] = [await token(), await token()];
      const bye = (t: string) =>
        h.call('POST', '/api/v1/auth/logout', undefined, {
          authorization: `Bearer ${t}`,
          'idempotency-key': 'bye',
        });
      assert.equal((await bye(t1)).status, 204);
      const second = await bye(t2);
      assert.equal(second.headers['idempotent-replayed'], undefined, "another token's logout runs");
      const after = await h.call('GET', '/api/v1/app/not-yet', undefined, { authorization: `Bearer ${t2}` });
      assert.equal(after.status, 401, 'and revokes that token');
    });
  });

  describe('app-portal tokens', () => {
    test('capabilities and readOnly limit what a token may change; expunging is for the operator', async () => {
      await h.call('POST', '/api/v1/app', { name: 'Caps', uid: 'caps' });
      const ep = (await h.call('POST', '/api/v1/app/caps/endpoint', { url: 'https://example.com/c' })).json;
      const msg = (await h.call('POST', '/api/v1/app/caps/msg', { eventType: 'a', payload: {} })).json;
      const tokenWith = async (body: object) => {
        const access = await h.call('POST', '/api/v1/auth/app-portal-access/caps', body);
        assert.equal(access.status, 200, JSON.stringify(access.json));
        return { authorization: `Bearer ${access.json.token}` };
      };
      const base = `/api/v1/app/caps/endpoint/${ep.id}`;
      const calls: Array<[string, 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', string, object?]> = [
        ['ViewBase', 'GET', base],
        ['ViewBase', 'GET', `/api/v1/app/caps/msg/${msg.id}`],
        ['ManageEndpoint', 'POST', '/api/v1/app/caps/endpoint', { url: 'https://example.com/n' }],
        ['ManageEndpoint', 'PATCH', base, { description: 'x' }],
        ['ManageEndpoint', 'PATCH', `${base}/headers`, { headers: { 'x-a': '1' } }],
        ['ViewEndpointSecret', 'GET', `${base}/secret`],
        ['ManageEndpointSecret', 'POST', `${base}/secret/rotate`, {}],
        ['CreateAttempts', 'POST', `${base}/send-example`, { eventType: 'svix.ping' }],
        ['CreateAttempts', 'POST', `/api/v1/app/caps/msg/${msg.id}/endpoint/${ep.id}/resend`],
      ];
      const grants = [
        ['ViewBase'],
        ['ViewBase', 'ViewEndpointSecret'],
        ['ViewBase', 'CreateAttempts'],
        ['ViewBase', 'ManageEndpointSecret'],
        ['ViewBase', 'ManageEndpoint'],
      ];
      // Managing the secret includes viewing it; managing the endpoint includes its secret.
      const implied: Record<string, string[]> = {
        ManageEndpointSecret: ['ViewEndpointSecret'],
        ManageEndpoint: ['ViewEndpointSecret', 'ManageEndpointSecret'],
      };
      for (const granted of grants.map((g) => [...g, ...g.flatMap((c) => implied[c] ?? [])])) {
        const as = await tokenWith({ capabilities: granted });
        for (const [needs, method, path, body] of calls) {
          const res = await h.call(method, path, body, as);
          const allowed = granted.includes(needs);
          assert.equal(res.status < 300, allowed, `${granted} ${method} ${path}: ${res.status}`);
          if (!allowed) assert.equal(res.status, 403, `${granted} ${method} ${path}`);
        }
      }
      // readOnly wins over capabilities given beside it.
      const readOnly = await tokenWith({ readOnly: true, capabilities: ['ViewBase', 'ManageEndpoint'] });
      assert.equal((await h.call('PATCH', base, { description: 'y' }, readOnly)).status, 403);
      assert.equal((await h.call('GET', base, undefined, readOnly)).status, 200);
      assert.equal((await h.call('POST', '/api/v1/auth/logout', undefined, readOnly)).status, 204);
      for (const capabilities of [['CreateAttempts'], ['ViewBase', 'Everything']]) {
        const refused = await h.call('POST', '/api/v1/auth/app-portal-access/caps', { capabilities });
        assert.equal(refused.status, 422, JSON.stringify(capabilities));
        assert.deepEqual(refused.json.detail[0].loc.slice(0, 2), ['body', 'capabilities']);
      }
      // A token without limits manages endpoints, but cannot expunge what the operator keeps.
      const full = await tokenWith({});
      const expunges = [`/msg/${msg.id}/content`, `/msg/${msg.id}/attempt/${newId('atmpt', 0)}/content`];
      for (const path of expunges)
        assert.equal((await h.call('DELETE', `/api/v1/app/caps${path}`, undefined, full)).status, 403, path);
      const all = await h.call('POST', '/api/v1/app/caps/msg/expunge-all-contents', undefined, full);
      assert.equal(all.status, 403);
      assert.equal((await h.call('PATCH', base, { description: 'z' }, full)).status, 200);
    });

    test('a scoped token sees its app only; admin routes are refused; logout revokes it', async () => {
      await h.call('POST', '/api/v1/app', { name: 'Mine', uid: 'mine' });
      await h.call('POST', '/api/v1/app', { name: 'Theirs', uid: 'theirs' });
      const theirEp = (await h.call('POST', '/api/v1/app/theirs/endpoint', { url: 'https://example.com/t' }))
        .json;
      const access = await h.call('POST', '/api/v1/auth/app-portal-access/mine', {});
      assert.equal(access.status, 200);
      assert.match(access.json.token, /^appsk_/);
      assert.match(access.json.url, /^https?:\/\//);
      const as = { authorization: `Bearer ${access.json.token}` };

      assert.equal((await h.call('GET', '/api/v1/app/mine', undefined, as)).status, 200);
      assert.equal(
        (await h.call('POST', '/api/v1/app/mine/endpoint', { url: 'https://example.com/m' }, as)).status,
        201,
      );
      assert.equal((await h.call('GET', '/api/v1/app/mine/endpoint', undefined, as)).json.data.length, 1);
      assert.equal((await h.call('GET', '/api/v1/app/theirs', undefined, as)).status, 404);
      assert.equal((await h.call('GET', '/api/v1/app/theirs/endpoint', undefined, as)).status, 404);
      assert.equal(
        (await h.call('GET', `/api/v1/app/theirs/endpoint/${theirEp.id}`, undefined, as)).status,
        404,
      );
      // As in Svix, publishing is the operator's, in its own app as in another's (which a 403 does not reveal).
      for (const app of ['mine', 'theirs', 'nobody'])
        assert.equal(
          (await h.call('POST', `/api/v1/app/${app}/msg`, { eventType: 'a', payload: {} }, as)).status,
          403,
          app,
        );
      assert.equal((await h.call('GET', '/api/v1/event-type', undefined, as)).status, 200);
      // One spelling per token: stray characters, a padded or extra segment are not the token.
      for (const variant of [`${access.json.token}!!`, `${access.json.token}=`, `${access.json.token}.x`]) {
        const other = { authorization: `Bearer ${variant}` };
        assert.equal((await h.call('GET', '/api/v1/app/mine', undefined, other)).status, 401, variant);
      }

      assert.equal((await h.call('GET', '/api/v1/app', undefined, as)).status, 403);
      assert.equal((await h.call('POST', '/api/v1/app', { name: 'x' }, as)).status, 403);
      assert.equal(
        (await h.call('POST', '/api/v1/event-type', { name: 'x', description: '' }, as)).status,
        403,
      );
      assert.equal((await h.call('POST', '/api/v1/auth/app-portal-access/mine', {}, as)).status, 403);
      // Refused before the body is read: an invalid one makes no 422 that would say what the route takes.
      const adminRoutes = [
        ['POST', '/api/v1/app'],
        ['PUT', '/api/v1/app/mine'],
        ['PATCH', '/api/v1/app/mine'],
        ['POST', '/api/v1/event-type'],
        ['POST', '/api/v1/event-type/import/openapi'],
        ['PUT', '/api/v1/event-type/a'],
        ['PATCH', '/api/v1/event-type/a'],
        ['POST', '/api/v1/app/mine/msg'],
        ['POST', '/api/v1/app/mine/msg/precheck/active'],
        ['POST', '/api/v1/auth/app-portal-access/mine'],
        ['POST', '/api/v1/auth/dashboard-access/mine'],
        ['POST', '/api/v1/auth/app/mine/expire-all'],
        ['POST', '/api/v1/environment/import'],
      ];
      for (const [method, path] of adminRoutes) {
        const res = await h.call(method!, path!, { unknownField: [1] }, as);
        assert.equal(res.status, 403, `${method} ${path}: ${JSON.stringify(res.json)}`);
      }

      const adminLogout = await h.call('POST', '/api/v1/auth/logout');
      assert.equal(adminLogout.status, 403, 'the admin token is not an app token: it cannot log out');
      assert.equal((await h.call('GET', '/api/v1/app/mine')).status, 200, 'and stays valid');
      assert.equal((await h.call('POST', '/api/v1/auth/logout', undefined, as)).status, 204);
      assert.equal((await h.call('GET', '/api/v1/app/mine', undefined, as)).status, 401);
      assert.equal(
        (await h.call('GET', '/api/v1/app/mine', undefined, { authorization: `Bearer ${ADMIN}` })).status,
        200,
      );
    });

    test('a token sees the event types of its feature flags, and no other flagged ones', async () => {
      await h.call('POST', '/api/v1/app', { name: 'Flags', uid: 'flags' });
      const ep = (await h.call('POST', '/api/v1/app/flags/endpoint', { url: 'https://example.com/f' })).json;
      await h.call('POST', '/api/v1/event-type', { name: 'ff.open', description: 'd' });
      await h.call('POST', '/api/v1/event-type', { name: 'ff.beta', description: 'd', featureFlag: 'beta' });
      // The Svix SDK's newer spelling: a list (of one flag here).
      const gamma = await h.call('POST', '/api/v1/event-type', {
        name: 'ff.gamma',
        description: 'd',
        featureFlags: ['gamma'],
      });
      assert.deepEqual([gamma.json.featureFlag, gamma.json.featureFlags], ['gamma', ['gamma']]);
      const two = { name: 'ff.two', description: 'd', featureFlags: ['a', 'b'] };
      assert.equal((await h.call('POST', '/api/v1/event-type', two)).status, 422);
      const tokenWith = async (featureFlags?: string[]) => {
        const access = await h.call('POST', '/api/v1/auth/app-portal-access/flags', { featureFlags });
        assert.equal(access.status, 200);
        return { authorization: `Bearer ${access.json.token}` };
      };
      const seen = async (as?: Record<string, string>) =>
        (await h.call('GET', '/api/v1/event-type?limit=250', undefined, as)).json.data
          .map((e: { name: string }) => e.name)
          .filter((n: string) => n.startsWith('ff.'));
      const beta = await tokenWith(['beta']);
      const none = await tokenWith();
      assert.deepEqual(await seen(), ['ff.beta', 'ff.gamma', 'ff.open'], 'admin sees all');
      assert.deepEqual(await seen(beta), ['ff.beta', 'ff.open']);
      assert.deepEqual(await seen(none), ['ff.open']);
      assert.equal((await h.call('GET', '/api/v1/event-type/ff.beta', undefined, beta)).status, 200);
      const hidden = await h.call('GET', '/api/v1/event-type/ff.gamma', undefined, beta);
      assert.deepEqual([hidden.status, hidden.json.code], [404, 'not_found']);
      const example = (as: Record<string, string>) =>
        h.call('POST', `/api/v1/app/flags/endpoint/${ep.id}/send-example`, { eventType: 'ff.beta' }, as);
      assert.equal((await example(beta)).status, 200);
      assert.equal((await example(none)).status, 404);
      // A filter on a type the token may not see answers as for a type that does not exist.
      const subscribe = (as: Record<string, string>, filterTypes: string[]) =>
        h.call('POST', '/api/v1/app/flags/endpoint', { url: 'https://example.com/g', filterTypes }, as);
      for (const filterTypes of [['ff.gamma'], ['ff.unknown']]) {
        const refused = await subscribe(beta, filterTypes);
        assert.equal(refused.status, 422);
        assert.match(refused.json.detail[0].msg, /does not exist/);
      }
      assert.equal((await subscribe(beta, ['ff.beta', 'ff.open'])).status, 201);
      const bad = await h.call('POST', '/api/v1/auth/app-portal-access/flags', {
        featureFlags: ['no spaces'],
      });
      assert.equal(bad.status, 422);
      // The flags travel in the token: as many as fit, each as long as allowed, still make a usable one.
      const longest = Array.from({ length: 32 }, (_, i) => `${i}`.padStart(256, 'f'));
      const most = await tokenWith(longest);
      assert.ok(most.authorization.length < 15 * 1024, 'room left in 16 KiB for the other headers');
      assert.equal((await h.call('GET', '/api/v1/app/flags', undefined, most)).status, 200);
      const more = await h.call('POST', '/api/v1/auth/app-portal-access/flags', {
        featureFlags: [...longest, 'one-more'],
      });
      assert.equal(more.status, 422);
      assert.deepEqual(more.json.detail[0].loc, ['body', 'featureFlags']);
    });
  });
});
