import assert from 'node:assert/strict';
import { it } from 'node:test';
import { makeConfig } from '../config/config.ts';
import { connectionCap, fileLimitWarning, openFileLimit } from './connection-cap.ts';

it('reads the soft open-file limit, and caps connections at what delivery and the database leave', () => {
  const limits = `Limit                     Soft Limit           Hard Limit           Units
Max processes             unlimited            unlimited            processes
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes`;
  assert.equal(openFileLimit(limits), 1024);
  assert.equal(
    openFileLimit('Max open files            unlimited            unlimited            files'),
    null,
  );
  assert.equal(openFileLimit(null), null);
  const config = makeConfig({}); // 512 attempts, 10 connections to PostgreSQL
  assert.equal(connectionCap(1024, config), 1024 - 512 - 10 - 256);
  assert.equal(connectionCap(1_048_576, config), 1_048_576 - 778);
  assert.equal(connectionCap(500, config), 64, 'however low the limit, the API takes some');
  assert.equal(connectionCap(null, config), null);
  assert.equal(fileLimitWarning(1024, config), null);
  assert.match(
    fileLimitWarning(400, config) ?? '',
    /open-file limit \(400\) is below the 842 that --concurrency 512 needs/,
  );
  assert.equal(fileLimitWarning(null, config), null);
});
