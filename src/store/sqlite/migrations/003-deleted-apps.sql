-- Applications deleted whose messages, tasks and attempts are still being purged, in small batches.
CREATE TABLE deleted_apps (
  id TEXT PRIMARY KEY,
  deleted_at INTEGER NOT NULL
) STRICT;
