-- Issue 4 (seed 003): a tenant's library of reusable message bodies and
-- sequences. A campaign copies one and keeps its copy once live.
CREATE TABLE message_templates (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- The type's content fields and follow-up steps, as JSON.
    content_json TEXT NOT NULL,
    -- Bumped by every edit: a campaign records the version it copied.
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX message_templates_tenant ON message_templates(tenant_id, id);

-- The template a campaign was made from and the version it copied (the one
-- current when it went live).
ALTER TABLE campaigns ADD COLUMN message_template_id BIGINT;
ALTER TABLE campaigns ADD COLUMN message_template_version BIGINT;
