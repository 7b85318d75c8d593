-- From this version on, entries in thau_kv are written in a binary form
-- (src/store/codec.rs) that an older thau cannot read: the version number
-- alone makes it refuse the database clearly. Older records stay readable.
SELECT 1;
