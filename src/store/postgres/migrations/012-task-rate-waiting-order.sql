-- A rate change frees the tasks waiting for their slots a chunk at a time, in id order (resetRate): this
-- index holds each endpoint's waiting tasks in that order, where 011's held them in no useful one.
CREATE INDEX tasks_rate_waiting_id ON tasks (endpoint_id, id) WHERE status = 1 AND rate_wait = 1;
DROP INDEX tasks_rate_waiting;
