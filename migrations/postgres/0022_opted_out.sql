-- Issue 14: an opt-out (STOP) is not a reply. The member records when it
-- opted out; progress counts opt-outs apart and leaves them out of the
-- response rate.
ALTER TABLE members ADD COLUMN opted_out_at BIGINT;
