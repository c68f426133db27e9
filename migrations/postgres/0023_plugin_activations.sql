-- Issue 14: rollback walks back through the activations instead of
-- toggling between two versions. Each activation is a row; a rollback marks
-- the current one rolled back and returns to the newest one below it.
CREATE TABLE plugin_activations (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL REFERENCES plugin_versions(sha256),
    activated_at BIGINT NOT NULL,
    rolled_back BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX plugin_activations_name ON plugin_activations (name, id);
INSERT INTO plugin_activations (name, sha256, activated_at)
    SELECT name, previous_sha256, updated_at FROM plugins WHERE previous_sha256 IS NOT NULL;
INSERT INTO plugin_activations (name, sha256, activated_at)
    SELECT name, active_sha256, updated_at FROM plugins WHERE active_sha256 IS NOT NULL;
