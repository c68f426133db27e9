-- Issue 13: a receipt applies only to messages of the channel it came
-- through; a parked one remembers that channel.
ALTER TABLE early_receipts ADD COLUMN channel_id BIGINT;
