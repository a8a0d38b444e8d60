-- The labels of the messages stored before migration 009 made its triggers.
INSERT OR IGNORE INTO message_labels (app_id, kind, value, msg_id)
  SELECT m.app_id, 'c', j.value, m.id FROM messages m, json_each(m.channels) j WHERE j.type = 'text'
  UNION ALL
  SELECT m.app_id, 't', j.value, m.id FROM messages m, json_each(m.tags) j WHERE j.type = 'text';
