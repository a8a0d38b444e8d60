-- Initial schema. Times are epoch milliseconds (bigint). Ids and names sort bytewise (COLLATE "C"), as
-- keyset pagination on time-sortable ids requires. Task status numbers follow Svix MessageStatus:
-- 0 success, 1 pending, 2 fail, 3 sending. No foreign keys: cascades are explicit deletes, which keeps
-- the hot inserts free of FK lookups.
--
-- messages and attempts are partitioned by day on created_at (partitions are created ahead of time by
-- the driver, and whole expired days are dropped). A primary key of a partitioned table must include the
-- partition key, hence (id, created_at): lookups by id decode the creation time that every id embeds.

CREATE TABLE apps (
  id text COLLATE "C" PRIMARY KEY,
  uid text COLLATE "C" UNIQUE,
  name text NOT NULL,
  rate_limit integer,
  metadata json NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);

CREATE TABLE event_types (
  name text COLLATE "C" PRIMARY KEY,
  description text NOT NULL,
  schemas json,
  archived boolean NOT NULL,
  deprecated boolean NOT NULL,
  feature_flag text,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);

CREATE TABLE endpoints (
  id text COLLATE "C" PRIMARY KEY,
  app_id text COLLATE "C" NOT NULL,
  uid text COLLATE "C",
  url text NOT NULL,
  description text NOT NULL,
  version integer NOT NULL,
  rate_limit integer,
  disabled boolean NOT NULL,
  filter_types json,
  channels json,
  metadata json NOT NULL,
  headers json NOT NULL,
  secrets json NOT NULL,
  failing_since bigint,
  rate_next_free double precision, -- the next free rate-limit slot (epoch ms), shared by every worker
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);
CREATE UNIQUE INDEX endpoints_app_uid ON endpoints (app_id, uid) WHERE uid IS NOT NULL;
CREATE INDEX endpoints_app ON endpoints (app_id, id);

CREATE TABLE messages (
  id text COLLATE "C" NOT NULL,
  app_id text COLLATE "C" NOT NULL,
  event_type text COLLATE "C" NOT NULL,
  event_id text COLLATE "C",
  channels jsonb,
  payload text,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX messages_app ON messages (app_id, id);
CREATE INDEX messages_expiry ON messages (expires_at) WHERE payload IS NOT NULL;

-- eventId is unique per application across all days, which a partitioned table cannot enforce (a unique
-- index there must include created_at): this small table holds that constraint and finds the message.
CREATE TABLE message_event_ids (
  app_id text COLLATE "C" NOT NULL,
  event_id text COLLATE "C" NOT NULL,
  msg_id text COLLATE "C" NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (app_id, event_id)
);
CREATE INDEX message_event_ids_created ON message_event_ids (created_at);

-- Tasks are the working set that the claim updates all the time: one plain table, so that each claim
-- path is a single b-tree probe. msg_created_at locates the message's partition.
CREATE TABLE tasks (
  id text COLLATE "C" PRIMARY KEY,
  app_id text COLLATE "C" NOT NULL,
  msg_id text COLLATE "C" NOT NULL,
  msg_created_at bigint NOT NULL,
  endpoint_id text COLLATE "C" NOT NULL,
  status smallint NOT NULL,
  attempts integer NOT NULL,
  next_at bigint,
  lease_until bigint,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);
CREATE UNIQUE INDEX tasks_msg_endpoint ON tasks (msg_id, endpoint_id);
CREATE INDEX tasks_endpoint_msg ON tasks (endpoint_id, msg_id);
CREATE INDEX tasks_endpoint_status ON tasks (endpoint_id, status, created_at);
CREATE INDEX tasks_msg_created ON tasks (msg_created_at);
-- Claim path: due pending tasks per endpoint in due order, and leases. There is deliberately no index
-- on next_at alone: the planner would walk it to serve one endpoint, reading other endpoints' backlogs.
CREATE INDEX tasks_due_endpoint ON tasks (endpoint_id, next_at) WHERE status = 1;
CREATE INDEX tasks_leased ON tasks (lease_until, endpoint_id) WHERE status = 3;

CREATE TABLE attempts (
  id text COLLATE "C" NOT NULL,
  app_id text COLLATE "C" NOT NULL,
  msg_id text COLLATE "C" NOT NULL,
  msg_created_at bigint NOT NULL,
  endpoint_id text COLLATE "C" NOT NULL,
  url text NOT NULL,
  status smallint NOT NULL,
  response_status_code integer NOT NULL,
  response text NOT NULL,
  response_duration_ms integer NOT NULL,
  trigger_type smallint NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX attempts_msg ON attempts (msg_id, id);
CREATE INDEX attempts_endpoint ON attempts (endpoint_id, id);
CREATE INDEX attempts_app ON attempts (app_id, id);

CREATE TABLE idempotency (
  key text PRIMARY KEY,
  status_code integer NOT NULL,
  body text NOT NULL,
  expires_at bigint NOT NULL
);
CREATE INDEX idempotency_expiry ON idempotency (expires_at);

CREATE TABLE settings (
  key text PRIMARY KEY,
  value text NOT NULL
);
