-- Lists of an application's messages filtered by event type read each type through this index, newest
-- first: a type that few messages have is found without walking the history in between.
CREATE INDEX messages_app_type ON messages (app_id, event_type, id);
