-- Issue 13: claims are shared fairly between campaigns, each claimed by
-- its own due members in order: one index range per campaign, however
-- many due members other campaigns have.
CREATE INDEX members_campaign_due ON members (campaign_id, status, next_attempt_at, id);
-- Its first two columns serve everything (campaign_id, status) did.
DROP INDEX members_campaign_status;
