-- Each campaign's member counts by channel and status, kept by triggers on
-- every write to members, so progress is read from a few rows instead of
-- counted over the campaign's members (which grew with the campaign).
-- channel_key is the member's own channel (a fallback step's), 0 while it
-- is the campaign's.
CREATE TABLE member_tallies (
    campaign_id BIGINT NOT NULL,
    channel_key BIGINT NOT NULL,
    status TEXT NOT NULL,
    members BIGINT NOT NULL DEFAULT 0,
    sent BIGINT NOT NULL DEFAULT 0,
    replied BIGINT NOT NULL DEFAULT 0,
    opted_out BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, channel_key, status)
);

INSERT INTO member_tallies (campaign_id, channel_key, status, members, sent, replied, opted_out)
SELECT campaign_id, COALESCE(channel_id, 0), status, COUNT(*), COUNT(sent_at),
       COUNT(CASE WHEN opted_out_at IS NULL THEN replied_at END), COUNT(opted_out_at)
FROM members GROUP BY campaign_id, COALESCE(channel_id, 0), status;

-- The triggers only append: one row per (campaign, channel, status) a
-- statement changed, never an update of a shared counter, so concurrent
-- writers (several instances' claims, outcomes and receipts) never wait for
-- each other or deadlock on a tally. Store::fold_tallies folds the deltas
-- into member_tallies every second; progress sums both.
CREATE TABLE member_tally_deltas (
    id BIGSERIAL PRIMARY KEY,
    campaign_id BIGINT NOT NULL,
    channel_key BIGINT NOT NULL,
    status TEXT NOT NULL,
    members BIGINT NOT NULL,
    sent BIGINT NOT NULL,
    replied BIGINT NOT NULL,
    opted_out BIGINT NOT NULL
);
CREATE INDEX member_tally_deltas_campaign ON member_tally_deltas (campaign_id);

CREATE FUNCTION member_tallies_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO member_tally_deltas (campaign_id, channel_key, status, members, sent, replied, opted_out)
        SELECT campaign_id, COALESCE(channel_id, 0), status, COUNT(*), COUNT(sent_at),
               COUNT(CASE WHEN opted_out_at IS NULL THEN replied_at END), COUNT(opted_out_at)
        FROM added GROUP BY 1, 2, 3;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO member_tally_deltas (campaign_id, channel_key, status, members, sent, replied, opted_out)
        SELECT campaign_id, channel_key, status, SUM(m), SUM(s), SUM(r), SUM(o) FROM (
            SELECT campaign_id, COALESCE(channel_id, 0) AS channel_key, status, -1 AS m,
                   -(sent_at IS NOT NULL)::int AS s,
                   -(opted_out_at IS NULL AND replied_at IS NOT NULL)::int AS r,
                   -(opted_out_at IS NOT NULL)::int AS o
            FROM gone
            UNION ALL
            SELECT campaign_id, COALESCE(channel_id, 0), status, 1,
                   (sent_at IS NOT NULL)::int,
                   (opted_out_at IS NULL AND replied_at IS NOT NULL)::int,
                   (opted_out_at IS NOT NULL)::int
            FROM added
        ) d
        GROUP BY 1, 2, 3
        HAVING SUM(m) <> 0 OR SUM(s) <> 0 OR SUM(r) <> 0 OR SUM(o) <> 0;
    ELSE
        INSERT INTO member_tally_deltas (campaign_id, channel_key, status, members, sent, replied, opted_out)
        SELECT campaign_id, COALESCE(channel_id, 0), status, -COUNT(*), -COUNT(sent_at),
               -COUNT(CASE WHEN opted_out_at IS NULL THEN replied_at END), -COUNT(opted_out_at)
        FROM gone GROUP BY 1, 2, 3;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER member_tallies_insert AFTER INSERT ON members
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION member_tallies_apply();
CREATE TRIGGER member_tallies_update AFTER UPDATE ON members
    REFERENCING OLD TABLE AS gone NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION member_tallies_apply();
CREATE TRIGGER member_tallies_delete AFTER DELETE ON members
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION member_tallies_apply();

CREATE FUNCTION member_tallies_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM member_tallies WHERE campaign_id = OLD.id;
    DELETE FROM member_tally_deltas WHERE campaign_id = OLD.id;
    RETURN NULL;
END $$;

CREATE TRIGGER member_tallies_campaign_delete AFTER DELETE ON campaigns
    FOR EACH ROW EXECUTE FUNCTION member_tallies_forget();
