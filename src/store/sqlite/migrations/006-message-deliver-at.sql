-- MessageIn.deliverAt (epoch ms): the message's tasks are created due then. NULL: at once.
ALTER TABLE messages ADD COLUMN deliver_at INTEGER;
