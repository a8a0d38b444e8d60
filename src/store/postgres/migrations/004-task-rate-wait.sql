-- 1 while a pending task waits for the rate-limit slot it was given (not for a retry): a rate-limit
-- change makes such tasks due again, to take slots at the new rate.
ALTER TABLE tasks ADD COLUMN rate_wait smallint NOT NULL DEFAULT 0;
