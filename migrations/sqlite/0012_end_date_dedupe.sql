-- Issue 4: duplicate-outreach prevention and the campaign end date.

-- A member whose address any campaign of the tenant sent to within this
-- many hours is not sent (0: off).
ALTER TABLE tenants ADD COLUMN duplicate_window_hours BIGINT NOT NULL DEFAULT 0;
-- Optional end of a campaign (ms UTC): no outreach after it; members not
-- yet reached end `expired` and the campaign completes.
ALTER TABLE campaigns ADD COLUMN ends_at BIGINT;
CREATE INDEX campaigns_ends_at ON campaigns(ends_at) WHERE ends_at IS NOT NULL;
-- 1: a contact active in one live campaign is not enrolled in another
-- (the member is kept, `disqualified` with the reason).
ALTER TABLE tenants ADD COLUMN one_campaign_per_contact BIGINT NOT NULL DEFAULT 0;
-- Both checks look up a tenant's other members by address (duplicate
-- window, at every claim) or by contact (one campaign per contact).
CREATE INDEX members_tenant_address ON members(tenant_id, address);
CREATE INDEX members_tenant_contact ON members(tenant_id, contact_id);
