-- Issue 13: several instances take a sender's send slots from one schedule
-- (the next free slot per channel sender, in microseconds of the database's
-- clock) instead of each keeping 1/N of the rate. UNLOGGED: a slot taken is
-- worth nothing after a database crash, and its commits need no WAL flush.
CREATE UNLOGGED TABLE sender_slots (
    channel_id BIGINT NOT NULL,
    sender TEXT NOT NULL,
    next_us BIGINT NOT NULL,
    PRIMARY KEY (channel_id, sender)
);
