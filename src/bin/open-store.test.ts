import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shownDatabase } from './open-store.ts';

test('a postgres:// URL is shown without its password, wherever the URL carries it', () => {
  assert.equal(shownDatabase('postgres://u:s3cret@db:5432/doorbell'), 'postgres://u:***@db:5432/doorbell');
  assert.equal(
    shownDatabase('postgres://u@db/doorbell?sslmode=require&password=s3cret&sslpassword=k3y'),
    'postgres://u@db/doorbell?sslmode=require&password=***&sslpassword=***',
  );
  assert.equal(shownDatabase('postgres://u@db/doorbell'), 'postgres://u@db/doorbell');
});
