-- What made a task's next attempt due: 0 its schedule, 1 a resend or recover (the attempt's trigger_type).
ALTER TABLE tasks ADD COLUMN trigger_type INTEGER NOT NULL DEFAULT 0;
