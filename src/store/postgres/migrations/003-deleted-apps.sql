-- Applications deleted whose messages, tasks and attempts are still being purged, in small batches.
CREATE TABLE deleted_apps (
  id text COLLATE "C" PRIMARY KEY,
  deleted_at bigint NOT NULL
);
