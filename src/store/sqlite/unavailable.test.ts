import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConflictError, StoreUnavailableError } from '../store.ts';
import { guardUnavailable, isUnavailable } from './unavailable.ts';

const coded = (code: string) => Object.assign(new Error(`failed: ${code}`), { code });

describe('sqlite isUnavailable', () => {
  it("names the database's failures, whatever the call", () => {
    for (const code of [
      'SQLITE_FULL',
      'SQLITE_IOERR',
      'SQLITE_IOERR_WRITE',
      'SQLITE_IOERR_FSYNC',
      'SQLITE_BUSY',
      'SQLITE_BUSY_TIMEOUT',
      'SQLITE_LOCKED',
      'SQLITE_READONLY',
      'SQLITE_READONLY_DBMOVED',
      'SQLITE_CANTOPEN',
      'SQLITE_NOMEM',
      'SQLITE_PROTOCOL',
      'ENOSPC',
      'EIO',
      'ENOENT',
      'EMFILE',
    ]) {
      assert.ok(isUnavailable(coded(code)), code);
    }
  });

  it("leaves the call's own faults and bugs alone", () => {
    for (const code of [
      'SQLITE_CONSTRAINT_UNIQUE',
      'SQLITE_ERROR',
      'SQLITE_CORRUPT',
      'SQLITE_MISUSE',
      'SQLITE_FULLX',
    ]) {
      assert.ok(!isUnavailable(coded(code)), code);
    }
    assert.ok(!isUnavailable(new Error('no code')));
    assert.ok(!isUnavailable(null));
  });
});

describe('guardUnavailable', () => {
  it('raises those failures as StoreUnavailableError, keeping the driver code', async () => {
    const store = guardUnavailable({
      things: {
        rejects: async () => Promise.reject(coded('SQLITE_FULL')),
        throws: (): Promise<never> => {
          throw coded('SQLITE_IOERR_WRITE');
        },
        conflicts: async () => Promise.reject(new ConflictError('uid')),
        works: async (a: number) => a + 1,
      },
      close: async () => {},
    });
    await assert.rejects(store.things.rejects(), (e: unknown) => {
      assert.ok(e instanceof StoreUnavailableError);
      assert.equal(e.reason, 'SQLITE_FULL');
      assert.equal(e.message, 'database unavailable: failed: SQLITE_FULL');
      return true;
    });
    await assert.rejects(store.things.throws(), StoreUnavailableError);
    await assert.rejects(store.things.conflicts(), ConflictError);
    assert.equal(await store.things.works(1), 2);
    await store.close();
  });
});
