-- Issue 14: a provider switch applies to sends not yet called, while the
-- sends already made stay with the plugin and settings they went out with:
-- their status callbacks are verified, and their lookups answered, by that
-- plugin with that configuration. A channel's settings carry a revision;
-- an edit that changes what a send would go out with keeps the replaced
-- settings here, and each send records the revision and plugin version it
-- used.
ALTER TABLE channels ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;
CREATE TABLE channel_revisions (
    channel_id BIGINT NOT NULL REFERENCES channels(id),
    revision BIGINT NOT NULL,
    plugin TEXT NOT NULL,
    pinned_sha256 TEXT,
    sender TEXT NOT NULL,
    config_json TEXT NOT NULL,
    secrets_json TEXT NOT NULL,
    allowed_hosts_json TEXT,
    replaced_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, revision)
);
ALTER TABLE members ADD COLUMN sent_channel_revision BIGINT;
ALTER TABLE members ADD COLUMN sent_plugin_sha256 TEXT;
