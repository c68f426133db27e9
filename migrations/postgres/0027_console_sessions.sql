-- Issue 15: the console's sign-in sessions, kept in the database so every
-- instance knows them. The cookie holds a random token; only its hash is
-- stored. tenant_id NULL: the admin.
CREATE TABLE console_sessions (
    token_hash TEXT PRIMARY KEY,
    tenant_id BIGINT REFERENCES tenants(id),
    csrf_token TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
