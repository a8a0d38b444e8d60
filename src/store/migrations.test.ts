// A migration that a released database has run is never run again (its version is recorded), so a
// change to its file would reach new databases only: an upgraded one would differ from a new one, or
// fail on what the change renamed. A change to the schema is a new migration. This test pins each
// file's content; a new migration adds its line.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { loadMigrations } from './migrations.ts';

const PINNED: Record<string, Record<string, string>> = {
  sqlite: {
    '001-init.sql': '2d26b7dda8f081d1',
    '002-task-trigger.sql': '3e18072f7afd2122',
    '003-deleted-apps.sql': '1ebb4a962587def8',
    '004-task-rate-wait.sql': '21f17d597b9769c2',
    '005-task-restore.sql': 'd7b6fc5091f22716',
    '006-message-deliver-at.sql': 'f715b8f8c5188ba3',
    '007-message-tags.sql': '52fc5de65eaf54b0',
    '008-message-event-type-index.sql': 'd034e67dfeaf64d9',
    '009-message-labels.sql': '1384dc4f9ed07b68',
    '010-message-labels-backfill.sql': '4f291bfb9e013262',
    '011-task-rate-waiting-index.sql': '815807e7d8e162cc',
    '012-failed-indexes.sql': 'da2d9e1788878c39',
    '013-task-rate-change.sql': '5ab9c2fa8cf61bb0',
    '014-orphan-endpoints.sql': '273664f91ac92732',
    '015-message-retired-index.sql': '6cff2eb08f570990',
    '016-idempotency-request.sql': 'f9feab2ed6efcaad',
    '017-drop-attempts-app-index.sql': 'cf625dbe2151a508',
    '018-background-tasks.sql': '579688233efd683d',
  },
  postgres: {
    '001-init.sql': '8a6fcaf33adee8a8',
    '002-task-trigger.sql': 'bfb95e3d9fddeb51',
    '003-deleted-apps.sql': 'e0e758f23299133b',
    '004-task-rate-wait.sql': '0cdc96dc1e8adbb7',
    '005-task-restore.sql': '78efd2755a0249e3',
    '006-message-deliver-at.sql': '77e5ac81e271d36a',
    '007-message-tags.sql': '622e6b49243b90a8',
    '008-message-event-type-index.sql': 'd034e67dfeaf64d9',
    '009-message-labels.sql': '69399279ec0fb76e',
    '010-message-labels-backfill.sql': '6778a6ab3c30584c',
    '011-task-rate-waiting-index.sql': '815807e7d8e162cc',
    '012-task-rate-waiting-order.sql': 'f5a166c8306d3a26',
    '013-failed-indexes.sql': '645d5a80befe4d3f',
    '014-orphan-endpoints.sql': '273664f91ac92732',
    '015-idempotency-request.sql': 'aa32006bf0c44171',
    '016-background-tasks.sql': '9eefc641884fb582',
  },
};

for (const [driver, pinned] of Object.entries(PINNED)) {
  test(`${driver} migrations are as released: a change to the schema is a new migration`, () => {
    const migrations = loadMigrations(new URL(`./${driver}/migrations/`, import.meta.url));
    const found = Object.fromEntries(
      migrations.map((m) => [`${m.name}.sql`, createHash('sha256').update(m.sql).digest('hex').slice(0, 16)]),
    );
    assert.deepEqual(found, pinned);
  });
}
