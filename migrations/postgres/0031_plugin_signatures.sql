-- Issue 17: signed plugin packages.
-- Publisher keys trusted through the admin API (those of --trusted-keys
-- live in the file); key_id is the first 16 hex digits of the sha256 of
-- the key's 32 bytes, public_key those bytes in base64.
CREATE TABLE plugin_trusted_keys (
    key_id TEXT PRIMARY KEY,
    publisher TEXT NOT NULL,
    public_key TEXT NOT NULL UNIQUE,
    added_at BIGINT NOT NULL
);
-- The verified signature of an installed version: who signed it (the
-- publisher as the server named its key when it verified), and the
-- signature itself, so it can be checked again. Kept when the key is no
-- longer trusted; the listing marks it so.
CREATE TABLE plugin_signatures (
    sha256 TEXT PRIMARY KEY REFERENCES plugin_versions(sha256),
    key_id TEXT NOT NULL,
    publisher TEXT NOT NULL,
    public_key TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    signature TEXT NOT NULL,
    verified_at BIGINT NOT NULL
);
