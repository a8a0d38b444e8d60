-- The labels of the messages stored before migration 009 made its triggers. Those committed since have
-- theirs already (a message and its labels commit together), so they are skipped.
INSERT INTO message_labels (app_id, kind, value, msg_id, created_at)
  SELECT m.app_id, l.kind, l.value, m.id, m.created_at FROM messages m, message_labels_of(m.channels, m.tags) l
  WHERE NOT EXISTS (SELECT 1 FROM message_labels x WHERE x.app_id = m.app_id AND x.kind = l.kind
    AND x.value = l.value AND x.msg_id = m.id AND x.created_at = m.created_at);
