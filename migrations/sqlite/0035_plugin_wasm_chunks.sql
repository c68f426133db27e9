-- A component's bytes in pieces of at most 1 MiB. Stored whole, the
-- bundled Python plugin (18 MB) went to the database as one value, copied
-- on its way (the driver's arguments, SQLite's own copy): the server's peak
-- RSS at its first start was 128 MiB where 89 MiB sufficed without the
-- insert (the dispatch benchmark's peak is that start's). Versions stored
-- before keep their bytes in plugin_versions.wasm; new ones leave it empty.
CREATE TABLE plugin_wasm_chunks (
    sha256 TEXT NOT NULL REFERENCES plugin_versions(sha256),
    seq INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (sha256, seq)
);
