-- A kept response names the request it answered (a hash of its body): a key used again with another
-- body is refused, not answered with the first one's response. Rows kept before have none and replay.
ALTER TABLE idempotency ADD COLUMN request TEXT;
