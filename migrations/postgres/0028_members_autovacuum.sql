-- A campaign rewrites each member several times (claimed, sending, sent,
-- delivered), and those updates cannot be HOT (status is indexed), so a
-- large campaign leaves several dead index entries per member. With the
-- default thresholds (20% of the table) autovacuum came too late: during
-- a 100,000-member campaign the due-follow-up lookup walked 472,000 index
-- entries for 100,000 members, and index-only scans fetched 197,000 heap
-- rows (auto_explain, dispatch benchmark). Vacuum and analyze this table
-- after 2% of it changed, without throttling.
ALTER TABLE members SET (
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);
