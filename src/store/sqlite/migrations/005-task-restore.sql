-- While a manual attempt (resend, recover) is due or in flight: the state its failure returns the task
-- to (status, and next_at when that is pending), as Svix records a failed manual attempt and changes
-- nothing else. NULL otherwise.
ALTER TABLE tasks ADD COLUMN restore_status INTEGER;
ALTER TABLE tasks ADD COLUMN restore_at INTEGER;
