-- Seed 001 (issue 4): a campaign with `wait_for_sender` that goes live while
-- another campaign of its tenant is sending on the same channel waits in
-- `pending` until that one completes, pauses or is cancelled. Opt-in, so
-- campaigns that share a sender on purpose keep sending side by side.
ALTER TABLE campaigns ADD COLUMN wait_for_sender BIGINT NOT NULL DEFAULT 0;
