-- A message's channels (kind 'c') and tags (kind 't'), one row each: a list of an application's messages
-- filtered by channel or tag reads them through this index, newest first, instead of walking the whole
-- history for the few that have it. Partitioned by the message's day like messages, so retention drops
-- both days together (partitions.ts). The triggers keep it, whatever inserts or deletes messages: also
-- the processes of the previous release while a rolling upgrade replaces them.
CREATE TABLE message_labels (
  app_id text COLLATE "C" NOT NULL,
  kind text COLLATE "C" NOT NULL,
  value text COLLATE "C" NOT NULL,
  msg_id text COLLATE "C" NOT NULL,
  created_at bigint NOT NULL
) PARTITION BY RANGE (created_at);
CREATE INDEX message_labels_find ON message_labels (app_id, kind, value, msg_id);

-- The days messages has, message_labels has too.
DO $$
DECLARE part record;
BEGIN
  FOR part IN
    SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
    WHERE p.relname = 'messages' AND p.relnamespace = current_schema()::regnamespace
  LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF message_labels %s',
      'message_labels' || substr(part.name, length('messages') + 1), part.bound);
  END LOOP;
END $$;

-- Each channel and tag of a message once.
CREATE FUNCTION message_labels_of(channels jsonb, tags jsonb) RETURNS TABLE (kind text, value text)
LANGUAGE sql IMMUTABLE AS $$
  SELECT DISTINCT l.kind, l.value FROM (
    SELECT 'c', jsonb_array_elements_text(channels) WHERE jsonb_typeof(channels) = 'array'
    UNION ALL
    SELECT 't', jsonb_array_elements_text(tags) WHERE jsonb_typeof(tags) = 'array'
  ) AS l(kind, value)
$$;

CREATE FUNCTION message_labels_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO message_labels (app_id, kind, value, msg_id, created_at)
  SELECT NEW.app_id, l.kind, l.value, NEW.id, NEW.created_at FROM message_labels_of(NEW.channels, NEW.tags) l;
  RETURN NULL;
END $$;

-- Each label by its whole key: joined to the function's rows (200, the planner guesses), the delete read
-- every label the application has that day, for each message.
CREATE FUNCTION message_labels_remove() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE label record;
BEGIN
  FOR label IN SELECT * FROM message_labels_of(OLD.channels, OLD.tags) LOOP
    DELETE FROM message_labels WHERE app_id = OLD.app_id AND kind = label.kind AND value = label.value
      AND msg_id = OLD.id AND created_at = OLD.created_at;
  END LOOP;
  RETURN NULL;
END $$;

-- From now on; the messages already there are indexed by the next migration, which holds no lock
-- that publishes wait for.
CREATE TRIGGER message_labels_add AFTER INSERT ON messages FOR EACH ROW
  WHEN (NEW.channels IS NOT NULL OR NEW.tags IS NOT NULL) EXECUTE FUNCTION message_labels_add();
CREATE TRIGGER message_labels_remove AFTER DELETE ON messages FOR EACH ROW
  WHEN (OLD.channels IS NOT NULL OR OLD.tags IS NOT NULL) EXECUTE FUNCTION message_labels_remove();
