import assert from 'node:assert/strict';
import { test } from 'node:test';
import { modify } from './context.ts';

type Row = { name: string; tags: string[]; updatedAt: number };

test('modify writes a change, and does not write one that changes nothing', async () => {
  let stored: Row = { name: 'a', tags: ['x'], updatedAt: 10 };
  const writes: Row[] = [];
  const write = async (next: Row, seen: Row) => {
    writes.push(next);
    if (stored.updatedAt !== seen.updatedAt) return false;
    stored = next;
    return true;
  };
  const read = async () => stored;

  const same = await modify(
    () => 'row',
    () => 5,
    read,
    (r, updatedAt) => ({ ...r, tags: ['x'], updatedAt }),
    write,
  );
  assert.deepEqual([same.after, writes.length], [stored, 0]);

  const renamed = await modify(
    () => 'row',
    () => 5,
    read,
    (r, updatedAt) => ({ ...r, name: 'b', updatedAt }),
    write,
  );
  assert.deepEqual(renamed.after, { name: 'b', tags: ['x'], updatedAt: 11 });
  assert.deepEqual([stored, writes.length], [renamed.after, 1]);
});
