-- Issue 4: the full campaign lifecycle, tags, notes, manual review, member
-- disabling and "retry failed".

-- Why a campaign is paused or stopped, as a code of the lifecycle table
-- (`paused_by_user`, `insufficient_credits`, `plugin_quarantined`...);
-- `status_reason` keeps the human-readable detail.
ALTER TABLE campaigns ADD COLUMN status_cause TEXT;
UPDATE campaigns SET status_cause = CASE WHEN status_reason = 'paused by user'
    THEN 'paused_by_user' ELSE 'channel_unusable' END WHERE status = 'paused';
ALTER TABLE campaigns ADD COLUMN notes TEXT;
-- Planned outreaches wait for a user's approval before they are sent.
ALTER TABLE campaigns ADD COLUMN manual_review BIGINT NOT NULL DEFAULT 0;
-- The tag derived from the name (the API keeps it in step on rename).
-- Campaigns created before get an approximation of the slug.
ALTER TABLE campaigns ADD COLUMN default_tag TEXT NOT NULL DEFAULT '';
UPDATE campaigns SET default_tag = lower(replace(trim(name), ' ', '-'));
CREATE INDEX campaigns_default_tag ON campaigns(tenant_id, default_tag);

-- The user's own tags on a campaign (the default one is a column).
CREATE TABLE campaign_tags (
    tenant_id BIGINT NOT NULL,
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id),
    tag TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, tag)
);
CREATE INDEX campaign_tags_tag ON campaign_tags(tenant_id, tag);

-- 1 when the member failed with a cause that may pass (transient, plugin
-- fault, undelivered): "retry failed" re-sends only those.
ALTER TABLE members ADD COLUMN retryable BIGINT NOT NULL DEFAULT 0;
-- A reviewer's edit of this member's message (campaign content JSON); what
-- the provider receives instead of the campaign's content.
ALTER TABLE members ADD COLUMN content_json TEXT;
