-- Issue 4: Herald processes sharing this database, each seen by its own
-- heartbeat; a sender's rate limit is split between the live ones.
CREATE TABLE herald_instances (
    instance_id TEXT PRIMARY KEY,
    seen_at INTEGER NOT NULL
);
