import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConflictError, StoreUnavailableError } from '../store.ts';
import { fromWire, toWire } from './thread-store.ts';

// Errors cross the thread as structured clones of toWire's plain objects.
const across = (error: unknown): Error => fromWire(structuredClone(toWire(error)));

describe('store errors across the thread', () => {
  it('keeps StoreUnavailableError, its message and the driver code', () => {
    const cause = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    const error = across(new StoreUnavailableError(cause));
    assert.ok(error instanceof StoreUnavailableError);
    assert.equal(error.message, 'database unavailable: database or disk is full');
    assert.equal(error.reason, 'SQLITE_FULL');
  });

  it('keeps ConflictError and the code of other errors', () => {
    const conflict = across(new ConflictError('uid'));
    assert.ok(conflict instanceof ConflictError);
    assert.equal(conflict.field, 'uid');
    const other = across(Object.assign(new Error('no such table: x'), { code: 'SQLITE_ERROR' }));
    assert.equal(other.message, 'no such table: x');
    assert.equal((other as { code?: unknown }).code, 'SQLITE_ERROR');
  });
});
