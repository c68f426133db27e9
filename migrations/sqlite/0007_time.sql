-- Time (issue 4): the tenant's quiet hours (sending only between them, in
-- each contact's local time), a campaign's own windows (quiet-hours override,
-- calling hours) and scheduled start, and why a queued member is waiting.
ALTER TABLE tenants ADD COLUMN quiet_hours_start TEXT NOT NULL DEFAULT '08:00';
ALTER TABLE tenants ADD COLUMN quiet_hours_end TEXT NOT NULL DEFAULT '21:00';
ALTER TABLE campaigns ADD COLUMN windows_json TEXT;
ALTER TABLE campaigns ADD COLUMN scheduled_at BIGINT;
ALTER TABLE members ADD COLUMN wait_reason TEXT;
-- The scheduler looks for due scheduled campaigns every 200 ms.
CREATE INDEX campaigns_scheduled ON campaigns (scheduled_at) WHERE status = 'scheduled';
