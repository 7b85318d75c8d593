-- What each write did to the entries, in the order writers committed it,
-- so that publishers apply it to what they show instead of reading the
-- whole index again after every change.
--
-- A row is read once every transaction older than its own has ended (the
-- current snapshot's xmin has passed its xid): a writer that committed
-- later but took its sequence number earlier cannot be skipped. Pruned
-- after a while; `thau_log_floor` says below which xid rows may be gone (a
-- publisher that fell that far behind scans the index again).
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
