// The query parameters every list route shares: `limit`, `iterator`, and the `before` / `after` dates.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type IdPrefix, newId } from '../../src/core/ids.ts';
import { describeEachDriver } from '../support/in-process.ts';
import { type Harness, harness, type Res } from './api-harness.ts';

const loc = (res: Res) => res.json?.detail?.[0]?.loc;

await describeEachDriver((driver) => {
  let h: Harness;
  let app: string;
  let ep: string;
  let msgs: Array<{ id: string; timestamp: string }>;
  /** Every list route of the API, with what its iterators hold. */
  let lists: Array<[string, IdPrefix | 'name']>;
  before(async () => {
    h = await harness(driver);
    app = (await h.call('POST', '/api/v1/app', { name: 'lists' })).json.id;
    await h.call('POST', '/api/v1/event-type', { name: 'list.ev', description: 'd' });
    ep = (await h.call('POST', `/api/v1/app/${app}/endpoint`, { url: 'http://127.0.0.1:9/x' })).json.id;
    msgs = [];
    for (let i = 0; i < 3; i++)
      msgs.push(
        (await h.call('POST', `/api/v1/app/${app}/msg`, { eventType: 'list.ev', payload: { i } })).json,
      );
    lists = [
      ['/api/v1/app', 'app'],
      ['/api/v1/event-type', 'name'],
      [`/api/v1/app/${app}/endpoint`, 'ep'],
      [`/api/v1/app/${app}/msg`, 'msg'],
      [`/api/v1/app/${app}/msg/${msgs[0]!.id}/endpoint`, 'ep'],
      [`/api/v1/app/${app}/endpoint/${ep}/msg`, 'msg'],
      [`/api/v1/app/${app}/attempt/endpoint/${ep}`, 'atmpt'],
      [`/api/v1/app/${app}/attempt/msg/${msgs[0]!.id}`, 'atmpt'],
    ];
  });
  after(async () => {
    await h.close();
  });

  test('limit is 1 to 250 on every list route; outside that it is a 422 naming query.limit', async () => {
    for (const [path] of lists) {
      for (const limit of ['0', '-1', '251']) {
        const res = await h.call('GET', `${path}?limit=${limit}`);
        assert.equal(res.status, 422, `${path} limit=${limit}`);
        assert.deepEqual(loc(res), ['query', 'limit'], `${path} limit=${limit}`);
      }
      for (const limit of ['1', '250'])
        assert.equal((await h.call('GET', `${path}?limit=${limit}`)).status, 200, `${path} limit=${limit}`);
    }
  });

  test('limit in any other spelling than decimal digits is a 422 naming it (coercion read 0x10 as 16)', async () => {
    for (const [path] of lists) {
      for (const limit of ['0x10', '1e2', '%205', '5.0']) {
        const res = await h.call('GET', `${path}?limit=${limit}`);
        assert.equal(res.status, 422, `${path} limit=${limit}`);
        assert.deepEqual(loc(res), ['query', 'limit'], `${path} limit=${limit}`);
      }
    }
    const attempts = `/api/v1/app/${app}/attempt/endpoint/${ep}`;
    assert.equal(
      (await h.call('GET', `${attempts}?status_code_class=0x1`)).status,
      422,
      'any integer parameter',
    );
  });

  test('order where the list has it (422 when unknown); elsewhere it is ignored, as in Svix', async () => {
    for (const [path] of lists) {
      const ordered = ['/api/v1/app', '/api/v1/event-type', `/api/v1/app/${app}/endpoint`].includes(path);
      const res = await h.call('GET', `${path}?order=bogus`);
      assert.equal(res.status, ordered ? 422 : 200, path);
      if (!ordered) {
        const plain = await h.call('GET', path);
        assert.deepEqual(res.json.data, plain.json.data, `${path}: order=bogus changes nothing`);
        assert.deepEqual((await h.call('GET', `${path}?order=ascending`)).json.data, plain.json.data, path);
      }
    }
  });

  test('event_types[]=a and event_types[0]=a filter as event_types=a does, as in Svix', async () => {
    await h.call('POST', '/api/v1/event-type', { name: 'list.other', description: 'd' });
    const own = (await h.call('POST', '/api/v1/app', { name: 'types' })).json.id;
    const sent = [];
    for (const eventType of ['list.ev', 'list.other'])
      sent.push((await h.call('POST', `/api/v1/app/${own}/msg`, { eventType, payload: {} })).json.id);
    for (const query of ['event_types=list.ev', 'event_types[]=list.ev', 'event_types[0]=list.ev']) {
      const found = (await h.call('GET', `/api/v1/app/${own}/msg?${query}`)).json.data;
      assert.deepEqual(
        found.map((m: { id: string }) => m.id),
        [sent[0]],
        query,
      );
    }
    const both = await h.call('GET', `/api/v1/app/${own}/msg?event_types[]=list.ev&event_types[]=list.other`);
    assert.equal(both.json.data.length, 2);
  });

  test('before and after together apply as a range; an inverted range is an empty page', async () => {
    const [first, middle, last] = [msgs[0]!, msgs[1]!, msgs[2]!];
    const range = `after=${first.timestamp}&before=${last.timestamp}`;
    const between = await h.call('GET', `/api/v1/app/${app}/msg?${range}`);
    assert.equal(between.status, 200);
    assert.deepEqual(
      between.json.data.map((m: { id: string }) => m.id),
      [middle.id],
      'after drops the first message and before the last',
    );
    const inverted = `after=${last.timestamp}&before=${first.timestamp}`;
    for (const [path] of lists.filter(([p]) => p.endsWith('/msg') || p.includes('/attempt/'))) {
      const res = await h.call('GET', `${path}?${inverted}`);
      assert.equal(res.status, 200, path);
      assert.deepEqual(res.json.data, [], path);
      assert.equal(res.json.done, true, path);
    }
  });

  test('an iterator the list did not return is a 422 naming query.iterator; its own, in both directions, work', async () => {
    for (const [path, key] of lists) {
      const first = (await h.call('GET', `${path}?limit=1`)).json;
      // The attempt lists are empty here: a well-formed id stands for their iterators.
      const own = first.iterator ?? (key === 'name' ? 'list.ev' : newId(key, Date.UTC(2030, 0, 1)));
      for (const iterator of [own, `-${own}`, ''])
        assert.equal(
          (await h.call('GET', `${path}?iterator=${iterator}`)).status,
          200,
          `${path} ${iterator}`,
        );
      const other = key === 'app' ? newId('msg', 0) : newId('app', 0);
      const bad =
        key === 'name'
          ? ['!!!', 'a b', '-', 'n'.repeat(257)]
          : ['garbage', '-', '-garbage', other, `-${other}`, `${key}_${'!'.repeat(26)}`, `${own}0`, key];
      for (const iterator of bad) {
        const res = await h.call('GET', `${path}?iterator=${encodeURIComponent(iterator)}`);
        assert.equal(res.status, 422, `${path} iterator=${iterator}`);
        assert.deepEqual(loc(res), ['query', 'iterator'], `${path} iterator=${iterator}`);
      }
    }
  });

  test('a date RFC 3339 allows but Date.parse cannot read is a 422 naming the field, on both databases', async () => {
    const dates = ['2030-06-30T23:59:60Z', '2030-01-01T00:00:00+01'];
    const base = `/api/v1/app/${app}/endpoint/${ep}`;
    for (const date of dates.map(encodeURIComponent)) {
      for (const [path] of lists.filter(([p]) => p.endsWith('/msg') || p.includes('/attempt/')))
        for (const field of ['before', 'after']) {
          const res = await h.call('GET', `${path}?${field}=${date}`);
          assert.equal(res.status, 422, `${path} ${field}=${date}`);
          assert.deepEqual(loc(res), ['query', field], `${path} ${field}=${date}`);
        }
      for (const field of ['since', 'until'])
        assert.deepEqual(loc(await h.call('GET', `${base}/stats?${field}=${date}`)), ['query', field]);
    }
    for (const date of dates) {
      const res = await h.call('POST', `${base}/recover`, { since: date });
      assert.equal(res.status, 422, date);
      assert.deepEqual(loc(res), ['body', 'since'], date);
    }
    const offset = await h.call(
      'GET',
      `/api/v1/app/${app}/msg?after=${encodeURIComponent('2000-01-01T00:00:00+01:00')}`,
    );
    assert.equal(offset.json.data.length, 3, 'an offset of hours and minutes is read');
  });

  test('a before with digits past the millisecond keeps the items of that millisecond; an after drops them', async () => {
    // One attempt for the first message, recorded as the worker records it.
    const now = Date.UTC(2031, 0, 1);
    const claimed = await h.store.tasks.claimDue({ now, limit: 10, leaseMs: 30_000, perEndpoint: 10 });
    const task = claimed.find((c) => c.task.msgId === msgs[0]!.id)!.task;
    const attemptId = newId('atmpt', now);
    await h.store.tasks.finish([
      {
        ...{ taskId: task.id, lease: task.leaseUntil, now, next: { status: 'fail' } },
        attempt: {
          ...{ id: attemptId, appId: app, msgId: task.msgId, endpointId: ep, url: 'http://127.0.0.1:9/x' },
          ...{ status: 'fail', responseStatusCode: 500, response: '', responseDurationMs: 1 },
          ...{ triggerType: 'scheduled', createdAt: now },
        },
      },
    ]);

    const micro = (ms: number) => new Date(ms).toISOString().replace('Z', '999Z'); // as Python and Go send
    const msgAt = Date.parse(msgs[0]!.timestamp);
    const cases: Array<[string, number, string]> = [
      [`/api/v1/app/${app}/msg`, msgAt, msgs[0]!.id],
      [`/api/v1/app/${app}/endpoint/${ep}/msg`, msgAt, msgs[0]!.id],
      [`/api/v1/app/${app}/attempt/endpoint/${ep}`, now, attemptId],
      [`/api/v1/app/${app}/attempt/msg/${msgs[0]!.id}`, now, attemptId],
    ];
    for (const [path, at, id] of cases) {
      const has = async (query: string) =>
        (await h.call('GET', `${path}?${query}`)).json.data.some((item: { id: string }) => item.id === id);
      assert.equal(await has(`before=${micro(at)}`), true, `${path} before=${micro(at)}`);
      assert.equal(await has(`before=${new Date(at).toISOString()}`), false, `${path} before, exclusive`);
      assert.equal(await has(`after=${micro(at)}`), false, `${path} after=${micro(at)}`);
      assert.equal(await has(`after=${micro(at - 1)}`), true, `${path} after=${micro(at - 1)}`);
    }
  });
});
