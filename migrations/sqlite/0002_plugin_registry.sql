-- Plugin registry: component bytes stored content-addressed, so every Herald
-- instance sharing a database loads the very same code; one row per plugin
-- name says which version is active.

CREATE TABLE plugin_versions (
    sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    -- The contract it implements, e.g. herald:provider@1.0.0.
    world TEXT NOT NULL,
    manifest_json TEXT NOT NULL,
    wasm BLOB NOT NULL,
    size BIGINT NOT NULL,
    installed_at BIGINT NOT NULL
);
CREATE INDEX plugin_versions_name ON plugin_versions(name);

CREATE TABLE plugins (
    name TEXT PRIMARY KEY,
    -- NULL while disabled.
    active_sha256 TEXT REFERENCES plugin_versions(sha256),
    -- What `rollback` returns to.
    previous_sha256 TEXT REFERENCES plugin_versions(sha256),
    -- Set when the plugin kept crashing; cleared by activating a version.
    quarantine_reason TEXT,
    updated_at BIGINT NOT NULL
);

-- A channel may pin one installed version of its plugin instead of
-- following the active one.
ALTER TABLE channels ADD COLUMN pinned_sha256 TEXT;
