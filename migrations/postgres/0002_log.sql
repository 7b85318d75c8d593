-- What each write did to the entries, in the order writers committed it,
-- so that publishers apply it to what they show instead of reading the
-- whole index again after every change.
--
-- A publisher reads, in one snapshot, the rows that snapshot shows and its
-- previous one did not (from the previous one's xmin on): a writer that
-- committed later but took its sequence number earlier is not skipped.
-- Rows are pruned after a while; `thau_log_floor` is one past the newest
-- xid pruned, and a publisher whose last snapshot did not show that one
-- scans the index again.
CREATE TABLE thau_log (
    seq    bigserial PRIMARY KEY,
    xid    bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    at     timestamptz NOT NULL DEFAULT now(),
    writer text NOT NULL,
    body   bytea NOT NULL
);

CREATE INDEX thau_log_xid ON thau_log (xid);

CREATE TABLE thau_log_floor (
    xid bigint NOT NULL
);

INSERT INTO thau_log_floor VALUES (0);
