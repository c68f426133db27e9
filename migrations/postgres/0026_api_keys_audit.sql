-- Issue 16 §3: named API keys with scopes, an expiry and revocation, beside
-- each tenant's first key (tenants.api_key_hash, every scope, no expiry);
-- and an audit log of the security-relevant changes, written once per
-- successful request that makes one.
CREATE TABLE api_keys (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    -- Comma-separated: read, send, admin.
    scopes TEXT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    revoked_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);
CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    -- NULL: the server's own (plugins), readable by the admin only.
    tenant_id BIGINT,
    -- Who: "admin", "tenant key" (the first key) or "key {id} ({name})".
    actor TEXT NOT NULL,
    -- What: the method and route, e.g. "PATCH /v1/channels/{id}".
    action TEXT NOT NULL,
    -- Which: the request path, and the id a creation answered.
    target TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);
