-- thau's store on PostgreSQL: the same ordered byte map as the sled store
-- (bytea compares bytes as sled does, so every scan reads the same rows in
-- the same order), plus what several instances need to share the work.

CREATE TABLE thau_kv (
    k bytea PRIMARY KEY,
    v bytea NOT NULL
);

-- One row per source of feeds.toml: when it is next due, and which poller
-- holds it until when (a lease that another poller takes over once it
-- expires). Times are milliseconds since the epoch, UTC.
CREATE TABLE thau_sources (
    source      text PRIMARY KEY,
    host        text NOT NULL,
    timing      text NOT NULL,
    due         bigint NOT NULL,
    lease_until bigint,
    owner       text
);

CREATE INDEX thau_sources_due ON thau_sources (due);
