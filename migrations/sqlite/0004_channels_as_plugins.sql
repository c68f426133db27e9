-- Issue 3: every channel type as a provider plugin (WhatsApp templates,
-- SMS/MMS, voice with AMD and retries, email), inbound replies and their
-- forwarding to the tenant, hosted MMS media.

-- Type-specific campaign settings (template + parameter mapping, media,
-- voice and email fields) as JSON, validated by the API before they are
-- stored. `max_concurrent` is a column because the claim query reads it.
ALTER TABLE campaigns ADD COLUMN settings_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE campaigns ADD COLUMN max_concurrent BIGINT;
ALTER TABLE campaigns ADD COLUMN send_mode TEXT NOT NULL DEFAULT 'direct';
-- Campaigns created before this migration are SMS campaigns.
UPDATE campaigns SET settings_json = json_object('content', json_object('type', 'sms', 'body', body), 'session_target', NULL);

-- Voice outcome (human, machine, busy, no_answer, failed, voicemail_left),
-- when the recipient read the message, and when they first replied.
ALTER TABLE members ADD COLUMN disposition TEXT;
ALTER TABLE members ADD COLUMN read_at BIGINT;
ALTER TABLE members ADD COLUMN replied_at BIGINT;
CREATE INDEX members_address ON members(tenant_id, address);

-- Call progress that beat the send's outcome to the database, as JSON.
ALTER TABLE early_receipts ADD COLUMN event_json TEXT;

-- Where a tenant's inbound replies are forwarded, and the key signing them.
ALTER TABLE tenants ADD COLUMN reply_url TEXT;
ALTER TABLE tenants ADD COLUMN webhook_secret TEXT;

-- Message templates of a channel, as last synced from the provider.
CREATE TABLE channel_templates (
    tenant_id BIGINT NOT NULL,
    channel_id BIGINT NOT NULL REFERENCES channels(id),
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    category TEXT NOT NULL,
    status TEXT NOT NULL,
    body_parameter_count BIGINT NOT NULL,
    body_text TEXT NOT NULL,
    synced_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, name, language)
);

-- Uploaded media, content-addressed: identical uploads share one blob.
CREATE TABLE media_blobs (
    sha256 TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    bytes BLOB NOT NULL
);
CREATE TABLE media (
    id INTEGER PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    sha256 TEXT NOT NULL REFERENCES media_blobs(sha256),
    -- Random, unguessable: the public URL is /media/{token}.
    token TEXT NOT NULL UNIQUE,
    filename TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX media_tenant ON media(tenant_id);

-- Conversation sessions (send mode `session`): one open session per
-- (channel, contact address), reused by later replies.
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    tenant_id BIGINT NOT NULL,
    channel_id BIGINT NOT NULL,
    address TEXT NOT NULL,
    campaign_id BIGINT NOT NULL,
    member_id BIGINT NOT NULL,
    -- `reply_endpoint` or `queue:NAME`.
    target TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    last_message_at BIGINT NOT NULL,
    UNIQUE (channel_id, address)
);

-- Messages in and out, per member (the conversation).
CREATE TABLE conversation_messages (
    id INTEGER PRIMARY KEY,
    tenant_id BIGINT NOT NULL,
    member_id BIGINT,
    channel_id BIGINT NOT NULL,
    session_id BIGINT,
    direction TEXT NOT NULL,
    address TEXT NOT NULL,
    body TEXT NOT NULL,
    media_json TEXT NOT NULL DEFAULT '[]',
    provider_message_id TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX conversation_member ON conversation_messages(member_id);
-- A provider retrying an inbound webhook must not record the reply twice.
CREATE UNIQUE INDEX conversation_inbound_once
    ON conversation_messages(channel_id, direction, provider_message_id);

-- Replies waiting to be forwarded to the tenant's reply endpoint.
CREATE TABLE reply_outbox (
    id INTEGER PRIMARY KEY,
    tenant_id BIGINT NOT NULL,
    payload TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX reply_outbox_due ON reply_outbox(status, next_attempt_at);
