-- A message's channels (kind 'c') and tags (kind 't'), one row each: a list of an application's messages
-- filtered by channel or tag reads them through this index, newest first, instead of walking the whole
-- history for the few that have it. Written with the message; partitioned by the message's day like
-- messages, so retention drops both days together (partitions.ts).
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

INSERT INTO message_labels (app_id, kind, value, msg_id, created_at)
  SELECT DISTINCT m.app_id, l.kind, l.value, m.id, m.created_at FROM messages m
  CROSS JOIN LATERAL (
    SELECT 'c', jsonb_array_elements_text(m.channels) WHERE jsonb_typeof(m.channels) = 'array'
    UNION ALL
    SELECT 't', jsonb_array_elements_text(m.tags) WHERE jsonb_typeof(m.tags) = 'array'
  ) AS l(kind, value);
