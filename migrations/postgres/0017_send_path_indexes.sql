-- Issue 12: every lookup on the send path by index.
-- The same index twice (0004 and 0012): one is enough.
DROP INDEX members_address;
-- Delivery receipts find their member by tenant and provider message id;
-- the old one-column index lost to (tenant_id, contact_id) in SQLite's
-- planner, which then walked all the tenant's members per receipt.
DROP INDEX members_provider_id;
CREATE INDEX members_provider_message ON members(tenant_id, provider_message_id);
-- The completion check asks "does this campaign still plan a journey step?".
CREATE INDEX members_campaign_next_step ON members(campaign_id) WHERE next_step IS NOT NULL;
-- A campaign's members page by page (`WHERE campaign_id = ? AND id > ?
-- ORDER BY id`), without walking the tenant's members.
CREATE INDEX members_campaign_page ON members(campaign_id, id);
