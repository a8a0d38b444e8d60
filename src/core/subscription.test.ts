import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { matches } from './subscription.ts';

const open = { disabled: false, filterTypes: null, channels: null };

describe('matches', () => {
  it('sends everything to an unfiltered endpoint', () => {
    assert.equal(matches(open, { eventType: 'invoice.paid', channels: null }), true);
    assert.equal(matches(open, { eventType: 'invoice.paid', channels: ['project_1'] }), true);
    assert.equal(
      matches({ ...open, filterTypes: [], channels: [] }, { eventType: 'a', channels: null }),
      true,
    );
  });

  it('sends nothing to a disabled endpoint', () => {
    assert.equal(matches({ ...open, disabled: true }, { eventType: 'invoice.paid', channels: null }), false);
  });

  it('filters by event type', () => {
    const endpoint = { ...open, filterTypes: ['invoice.paid', 'invoice.failed'] };
    assert.equal(matches(endpoint, { eventType: 'invoice.paid', channels: null }), true);
    assert.equal(matches(endpoint, { eventType: 'user.created', channels: null }), false);
  });

  it('filters by event type in a long list as in a short one', () => {
    const types = Array.from({ length: 5_000 }, (_, i) => `order.type_${i}`);
    const endpoint = { ...open, filterTypes: types };
    for (const type of ['order.type_0', 'order.type_2500', 'order.type_4999'])
      assert.equal(matches(endpoint, { eventType: type, channels: null }), true, type);
    for (const type of ['order.type_5000', 'order.type_', 'ORDER.TYPE_0', 'toString', '__proto__'])
      assert.equal(matches(endpoint, { eventType: type, channels: null }), false, type);
  });

  it('needs at least one shared channel when the endpoint has channels', () => {
    const endpoint = { ...open, channels: ['project_1', 'project_2'] };
    assert.equal(matches(endpoint, { eventType: 'a', channels: ['project_2'] }), true);
    assert.equal(matches(endpoint, { eventType: 'a', channels: ['project_3', 'project_1'] }), true);
    assert.equal(matches(endpoint, { eventType: 'a', channels: ['project_3'] }), false);
    assert.equal(matches(endpoint, { eventType: 'a', channels: [] }), false);
    assert.equal(matches(endpoint, { eventType: 'a', channels: null }), false);
  });

  it('requires both filters to pass', () => {
    const endpoint = { disabled: false, filterTypes: ['a'], channels: ['c'] };
    assert.equal(matches(endpoint, { eventType: 'a', channels: ['c'] }), true);
    assert.equal(matches(endpoint, { eventType: 'b', channels: ['c'] }), false);
    assert.equal(matches(endpoint, { eventType: 'a', channels: ['d'] }), false);
  });
});
