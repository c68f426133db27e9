-- Herald schema. Times are milliseconds since the Unix epoch (UTC); ids are
-- 64-bit integers; every row carries its tenant.

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE tenants (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    api_key_hash TEXT NOT NULL UNIQUE,
    timezone TEXT NOT NULL DEFAULT 'UTC',
    created_at BIGINT NOT NULL
);

CREATE TABLE channels (
    id INTEGER PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    plugin TEXT NOT NULL,
    sender TEXT NOT NULL,
    config_json TEXT NOT NULL,
    secrets_json TEXT NOT NULL,
    allowed_hosts_json TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX channels_tenant ON channels(tenant_id);

CREATE TABLE contact_lists (
    id INTEGER PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX contact_lists_tenant ON contact_lists(tenant_id);

CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    phone TEXT,
    email TEXT,
    first_name TEXT,
    last_name TEXT,
    fields_json TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX contacts_tenant_phone ON contacts(tenant_id, phone);
CREATE UNIQUE INDEX contacts_tenant_email ON contacts(tenant_id, email);

CREATE TABLE list_contacts (
    list_id BIGINT NOT NULL REFERENCES contact_lists(id),
    contact_id BIGINT NOT NULL REFERENCES contacts(id),
    tenant_id BIGINT NOT NULL,
    PRIMARY KEY (list_id, contact_id)
);

CREATE TABLE campaigns (
    id INTEGER PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    channel_id BIGINT NOT NULL REFERENCES channels(id),
    list_id BIGINT NOT NULL REFERENCES contact_lists(id),
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
CREATE INDEX campaigns_tenant ON campaigns(tenant_id);
CREATE INDEX campaigns_status ON campaigns(status);

-- One row per (campaign, contact): the member's delivery state. Changed only
-- by the engine; every change is also appended to member_events.
CREATE TABLE members (
    id INTEGER PRIMARY KEY,
    tenant_id BIGINT NOT NULL,
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id),
    contact_id BIGINT NOT NULL REFERENCES contacts(id),
    address TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    idempotency_key TEXT,
    provider_message_id TEXT,
    error_code TEXT,
    error_message TEXT,
    sent_at BIGINT,
    delivered_at BIGINT,
    updated_at BIGINT NOT NULL,
    UNIQUE (campaign_id, contact_id)
);
CREATE INDEX members_due ON members(status, next_attempt_at);
CREATE INDEX members_campaign_status ON members(campaign_id, status);
CREATE INDEX members_provider_id ON members(provider_message_id);

CREATE TABLE member_events (
    id INTEGER PRIMARY KEY,
    tenant_id BIGINT NOT NULL,
    member_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX member_events_member ON member_events(member_id);

-- Delivery receipts that arrived before the send's outcome (with the
-- provider's id) was recorded; applied as soon as it is.
CREATE TABLE early_receipts (
    id INTEGER PRIMARY KEY,
    tenant_id BIGINT NOT NULL,
    provider_message_id TEXT NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT,
    error_message TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX early_receipts_provider_id ON early_receipts(tenant_id, provider_message_id);
