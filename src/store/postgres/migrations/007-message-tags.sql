-- MessageIn.tags: a JSON array of strings, for filtering lists. NULL: none.
ALTER TABLE messages ADD COLUMN tags jsonb;
