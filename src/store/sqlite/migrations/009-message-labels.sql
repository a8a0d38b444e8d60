-- A message's channels (kind 'c') and tags (kind 't'), one row each: a list of an application's messages
-- filtered by channel or tag reads them through this key, newest first, instead of walking the whole
-- history for the few that have it. The triggers keep it, whatever inserts or deletes messages.
CREATE TABLE message_labels (
  app_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  value TEXT NOT NULL,
  msg_id TEXT NOT NULL,
  PRIMARY KEY (app_id, kind, value, msg_id)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER message_labels_add AFTER INSERT ON messages
WHEN NEW.channels IS NOT NULL OR NEW.tags IS NOT NULL
BEGIN
  INSERT OR IGNORE INTO message_labels (app_id, kind, value, msg_id)
  SELECT NEW.app_id, 'c', value, NEW.id FROM json_each(NEW.channels) WHERE type = 'text'
  UNION ALL
  SELECT NEW.app_id, 't', value, NEW.id FROM json_each(NEW.tags) WHERE type = 'text';
END;

-- Each label by its key: app, kind and message equal, the values a list (a row-value IN over the
-- union read the whole table, for each message).
CREATE TRIGGER message_labels_remove AFTER DELETE ON messages
WHEN OLD.channels IS NOT NULL OR OLD.tags IS NOT NULL
BEGIN
  DELETE FROM message_labels WHERE app_id = OLD.app_id AND kind = 'c' AND msg_id = OLD.id
    AND value IN (SELECT value FROM json_each(OLD.channels) WHERE type = 'text');
  DELETE FROM message_labels WHERE app_id = OLD.app_id AND kind = 't' AND msg_id = OLD.id
    AND value IN (SELECT value FROM json_each(OLD.tags) WHERE type = 'text');
END;
