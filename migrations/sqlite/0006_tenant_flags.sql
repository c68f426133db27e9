-- Per-tenant feature flag (seed 000): an admin can switch campaigns off for a
-- tenant; its campaign endpoints then answer 403.
ALTER TABLE tenants ADD COLUMN campaigns_enabled BIGINT NOT NULL DEFAULT 1;
