-- Initial schema. Times are epoch milliseconds. JSON columns hold arrays/objects as text.
-- Task and message status numbers follow Svix MessageStatus: 0 success, 1 pending, 2 fail, 3 sending.
-- No foreign keys: cascades are explicit deletes, which keeps the hot inserts free of FK lookups.

CREATE TABLE apps (
  id TEXT PRIMARY KEY,
  uid TEXT UNIQUE,
  name TEXT NOT NULL,
  rate_limit INTEGER,
  metadata TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE event_types (
  name TEXT PRIMARY KEY,
  description TEXT NOT NULL,
  schemas TEXT,
  archived INTEGER NOT NULL,
  deprecated INTEGER NOT NULL,
  feature_flag TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE endpoints (
  id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL,
  uid TEXT,
  url TEXT NOT NULL,
  description TEXT NOT NULL,
  version INTEGER NOT NULL,
  rate_limit INTEGER,
  disabled INTEGER NOT NULL,
  filter_types TEXT,
  channels TEXT,
  metadata TEXT NOT NULL,
  headers TEXT NOT NULL,
  secrets TEXT NOT NULL,
  failing_since INTEGER,
  rate_next_free REAL, -- the next free rate-limit slot (epoch ms), shared by every worker
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX endpoints_app_uid ON endpoints (app_id, uid) WHERE uid IS NOT NULL;
CREATE INDEX endpoints_app ON endpoints (app_id, id);

CREATE TABLE messages (
  id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  event_id TEXT,
  channels TEXT,
  payload TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX messages_app_event_id ON messages (app_id, event_id) WHERE event_id IS NOT NULL;
CREATE INDEX messages_app ON messages (app_id, id);
CREATE INDEX messages_expiry ON messages (expires_at) WHERE payload IS NOT NULL;

CREATE TABLE tasks (
  id TEXT NOT NULL UNIQUE,
  app_id TEXT NOT NULL,
  msg_id TEXT NOT NULL,
  endpoint_id TEXT NOT NULL,
  status INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  next_at INTEGER,
  lease_until INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX tasks_msg_endpoint ON tasks (msg_id, endpoint_id);
CREATE INDEX tasks_endpoint_msg ON tasks (endpoint_id, msg_id);
-- Claim path: due pending tasks in due order, and leases to count or reclaim.
CREATE INDEX tasks_due ON tasks (next_at, endpoint_id) WHERE status = 1;
CREATE INDEX tasks_due_endpoint ON tasks (endpoint_id, next_at) WHERE status = 1;
CREATE INDEX tasks_leased ON tasks (lease_until, endpoint_id) WHERE status = 3;

CREATE TABLE attempts (
  id TEXT PRIMARY KEY,
  app_id TEXT NOT NULL,
  msg_id TEXT NOT NULL,
  endpoint_id TEXT NOT NULL,
  url TEXT NOT NULL,
  status INTEGER NOT NULL,
  response_status_code INTEGER NOT NULL,
  response TEXT NOT NULL,
  response_duration_ms INTEGER NOT NULL,
  trigger_type INTEGER NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX attempts_msg ON attempts (msg_id, id);
CREATE INDEX attempts_endpoint ON attempts (endpoint_id, id);
CREATE INDEX attempts_app ON attempts (app_id, id);

CREATE TABLE idempotency (
  key TEXT PRIMARY KEY,
  status_code INTEGER NOT NULL,
  body TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX idempotency_expiry ON idempotency (expires_at);

CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
