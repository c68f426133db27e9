-- Issue 13: an uncertain send (its outcome not seen: timeout, reset, 5xx,
-- a crash during the call) is looked up at the provider instead of being
-- resent blindly.
-- When the attempt's plugin call started: the start of the window the
-- provider is asked about.
ALTER TABLE members ADD COLUMN attempt_started_at BIGINT;
-- When an `unknown` member is next looked up; NULL when nobody will look
-- (resolved, or left for an operator).
ALTER TABLE members ADD COLUMN reconcile_at BIGINT;
-- Times the member was sent again because a lookup did not find it: once
-- at most, then it is left for an operator.
ALTER TABLE members ADD COLUMN lookup_resends BIGINT NOT NULL DEFAULT 0;
CREATE INDEX members_reconcile_due ON members (reconcile_at) WHERE reconcile_at IS NOT NULL;
