-- A kept response names the request it answered (a hash of its body): a key used again with another
-- body is refused, not answered with the first one's response. Rows kept before have none and replay.
ALTER TABLE idempotency ADD COLUMN request text;
-- A running marker names no request, whoever writes it: a process of the previous release, during a
-- rolling upgrade, takes over an expired key without knowing the column, and its response would
-- otherwise keep the hash of the body that key answered before.
CREATE FUNCTION idempotency_marker_request() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status_code = 0 THEN
    NEW.request := NULL;
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER idempotency_marker_request BEFORE INSERT OR UPDATE ON idempotency
  FOR EACH ROW EXECUTE FUNCTION idempotency_marker_request();
