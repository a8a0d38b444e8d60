-- Messages past the retention go once their payload has expired too (it is kept for its own retention,
-- from deliverAt on, which may end later: a message scheduled ahead was deleted before it was sent). The
-- retention sweep reads them in id order through this index, which a held message is not in.
CREATE INDEX messages_retired ON messages (id) WHERE payload IS NULL;
