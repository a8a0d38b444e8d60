-- Finished background tasks (recover, replay, expunge of all contents), kept to be looked up by id.
CREATE TABLE background_tasks (
  id TEXT PRIMARY KEY,
  task TEXT NOT NULL,
  data TEXT NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;
