-- A message's channels (kind 'c') and tags (kind 't'), one row each: a list of an application's messages
-- filtered by channel or tag reads them through this key, newest first, instead of walking the whole
-- history for the few that have it. Written with the message, deleted with it.
CREATE TABLE message_labels (
  app_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  value TEXT NOT NULL,
  msg_id TEXT NOT NULL,
  PRIMARY KEY (app_id, kind, value, msg_id)
) STRICT, WITHOUT ROWID;
INSERT OR IGNORE INTO message_labels (app_id, kind, value, msg_id)
  SELECT m.app_id, 'c', j.value, m.id FROM messages m, json_each(m.channels) j WHERE m.channels IS NOT NULL
  UNION ALL
  SELECT m.app_id, 't', j.value, m.id FROM messages m, json_each(m.tags) j WHERE m.tags IS NOT NULL;
