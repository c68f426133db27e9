-- Media bytes in pieces (256 KiB each as written by this version), so that an
-- upload or a provider's fetch never holds a whole file in memory. Files
-- stored before keep their bytes as a single piece.
CREATE TABLE media_chunks (
    sha256 TEXT NOT NULL,
    seq BIGINT NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (sha256, seq)
);
INSERT INTO media_chunks (sha256, seq, bytes) SELECT sha256, 0, bytes FROM media_blobs;
ALTER TABLE media_blobs DROP COLUMN bytes;
