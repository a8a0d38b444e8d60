import assert from 'node:assert/strict';
import { test } from 'node:test';
import { singleFlight } from './single-flight.ts';

test('a key whose work runs starts none; once it ended, or failed, the next ask starts it again', async () => {
  const started: string[] = [];
  const ends: Array<(fail: boolean) => void> = [];
  const ask = singleFlight(
    (key) =>
      new Promise<void>((resolve, reject) => {
        started.push(key);
        ends.push((fail) => (fail ? reject(new Error('failed')) : resolve()));
      }),
  );
  ask(['a', 'b', 'a']);
  ask(['a']);
  assert.deepEqual(started, ['a', 'b']);
  ends[0]!(true); // a fails: dropped
  ends[1]!(false);
  await new Promise((resolve) => setImmediate(resolve));
  ask(['a', 'b']);
  assert.deepEqual(started, ['a', 'b', 'a', 'b']);
});
