-- A claim counts the leases held per host: with this index it reads the
-- leased rows only, not every source (100,000 at a national desk).
CREATE INDEX thau_sources_leased ON thau_sources (host) WHERE lease_until IS NOT NULL;
