import assert from 'node:assert/strict';
import { test } from 'node:test';
import { within } from './deadline.ts';

test('within: the work’s outcome while it is in time, the late error after', async () => {
  const late = () => new Error('late');
  assert.equal(await within(Promise.resolve(1), 1000, late), 1);
  await assert.rejects(within(Promise.reject(new Error('own')), 1000, late), { message: 'own' });
  const never = new Promise<number>(() => {});
  await assert.rejects(within(never, 10, late), { message: 'late' });
});
