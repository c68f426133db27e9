-- Issue 17, section 4: canary versions and per-tenant plugin allowlists.
--
-- A canary sends a share of a plugin's sends (a percent of members, by a
-- stable hash of the member, or every send of some tenants) with another
-- installed version, compared with the active one (baseline_sha256 when it
-- started). One row per canary, kept after it ends: its state says how
-- (rolled_back by the judge, promoted, aborted by an admin or by another
-- activation, replaced by a newer canary), reason why, figures the
-- judgement it ended on (JSON). Every instance routes by the running row,
-- and the messages a canary sent keep being verified and looked up by its
-- version after it ended.
CREATE TABLE plugin_canaries (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL REFERENCES plugin_versions(sha256),
    baseline_sha256 TEXT NOT NULL,
    percent BIGINT,
    tenants_json TEXT,
    state TEXT NOT NULL DEFAULT 'running',
    reason TEXT,
    figures_json TEXT,
    started_at BIGINT NOT NULL,
    ended_at BIGINT
);
-- One running canary per plugin, whichever instance starts it.
CREATE UNIQUE INDEX plugin_canaries_running ON plugin_canaries (name) WHERE state = 'running';
CREATE INDEX plugin_canaries_name ON plugin_canaries (name, id);

-- The plugins a tenant may attach to channels (a JSON array of names); no
-- row: every plugin, as before allowlists existed.
CREATE TABLE tenant_plugin_allowlists (
    tenant_id BIGINT PRIMARY KEY REFERENCES tenants(id),
    plugins_json TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
