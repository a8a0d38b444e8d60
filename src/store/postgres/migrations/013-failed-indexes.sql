-- An endpoint's failed deliveries and failed attempts, newest first: the list an operator opens when an
-- endpoint fails. Filtered by status through the endpoint's other indexes, a page walked its whole
-- history, in every day's partition of attempts. A task's status as lists show it is its restore status
-- while a manual attempt is pending (see tasks-sql.ts).
CREATE INDEX tasks_endpoint_failed ON tasks (endpoint_id, msg_id) WHERE coalesce(restore_status, status) = 2;
CREATE INDEX attempts_endpoint_failed ON attempts (endpoint_id, id) WHERE status = 2;
