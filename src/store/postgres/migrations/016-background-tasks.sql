-- Finished background tasks (recover, replay, expunge of all contents), kept to be looked up by id.
CREATE TABLE background_tasks (
  id text COLLATE "C" PRIMARY KEY,
  task text NOT NULL,
  data jsonb NOT NULL,
  updated_at bigint NOT NULL
);
