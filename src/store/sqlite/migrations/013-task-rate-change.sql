-- A rate change frees the tasks waiting for their slots a chunk at a time, each a commit of its own: a
-- task put back to wait meanwhile, at a slot of the new rate, must keep it. Each endpoint counts its rate
-- changes, and a task put back to wait notes the count: a change frees those noted before it.
ALTER TABLE endpoints ADD COLUMN rate_changes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN rate_change INTEGER NOT NULL DEFAULT 0;
