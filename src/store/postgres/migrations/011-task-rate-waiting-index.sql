-- The tasks put back until their rate-limit slot, by endpoint: a rate change frees them (resetRate)
-- without walking the endpoint's other pending tasks. A backlog behind a slow rate may hold many.
CREATE INDEX tasks_rate_waiting ON tasks (endpoint_id) WHERE status = 1 AND rate_wait = 1;
