-- Live worker processes, for operators (`workers` query): each registers at start, heartbeats, and
-- deletes its row when it stops. A row whose heartbeat is older than a few intervals is a dead process.
CREATE TABLE worker (
  id            text PRIMARY KEY,
  hostname      text NOT NULL,
  pid           integer NOT NULL,
  roles         text[] NOT NULL DEFAULT '{}',
  concurrency   jsonb NOT NULL DEFAULT '{}',
  in_flight     integer NOT NULL DEFAULT 0,
  started_at    timestamptz(3) NOT NULL DEFAULT now(),
  heartbeat_at  timestamptz(3) NOT NULL DEFAULT now()
);
CREATE INDEX worker_heartbeat_at_idx ON worker(heartbeat_at);
