-- PostgreSQL drops the foreign keys of contacts and list_contacts here
-- because it checks them with a query per row (see the PostgreSQL
-- migration). SQLite checks them in its own B-tree code at a negligible
-- cost (measured: the same 1M-row import with and without them within
-- noise), and dropping one would mean rebuilding the table, so SQLite keeps
-- them. Nothing to do.
SELECT 1;
