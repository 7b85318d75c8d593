//! The schedule pollers share (`thau_sources`): claims under leases, their
//! renewal and release.

use super::*;

impl Pg {
    /// Makes the shared schedule hold exactly `sources` (name, host, timing,
    /// first due): a new source is due at its first due, one whose timing
    /// changed is rescheduled, the others keep their next due and lease.
    pub fn sync_sources(&self, sources: Vec<(String, String, String, i64)>) -> Result<(), StoreError> {
        self.run(move |c| {
            let mut names = Vec::with_capacity(sources.len());
            let (mut hosts, mut timings, mut dues) = (Vec::new(), Vec::new(), Vec::new());
            for (name, host, timing, due) in sources {
                names.push(name);
                hosts.push(host);
                timings.push(timing);
                dues.push(due);
            }
            let client = c.client()?;
            let mut tx = client.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CLAIM_LOCK])?;
            tx.execute("DELETE FROM thau_sources WHERE NOT (source = ANY($1))", &[&names])?;
            tx.execute(
                "INSERT INTO thau_sources (source, host, timing, due) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[]) \
                 ON CONFLICT (source) DO UPDATE SET host = EXCLUDED.host, timing = EXCLUDED.timing, \
                 due = CASE WHEN thau_sources.timing = EXCLUDED.timing THEN thau_sources.due ELSE EXCLUDED.due END",
                &[&names, &hosts, &timings, &dues],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Claims at most `limit` due sources for `owner` until `now + lease`:
    /// oldest due first, never more than `per_host` leases held on one host
    /// across every instance (file sources have no host and no such
    /// bound). Claims take turns (a transaction-level advisory lock), and
    /// rows another instance is finishing are skipped (`SKIP LOCKED`).
    pub fn claim(
        &self,
        owner: &str,
        now: i64,
        lease: i64,
        limit: i64,
        per_host: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let owner = owner.to_string();
        self.run(move |c| {
            let client = c.client()?;
            let mut tx = client.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CLAIM_LOCK])?;
            // First among the oldest due sources only; when they did not
            // fill the slots (nothing more is due, or the oldest are all on
            // hosts at their bound), among every due source: a host with a
            // backlog of old sources must not starve the others.
            let mut claimed: Vec<(String, i64)> = Vec::new();
            for window in [limit.saturating_mul(CANDIDATES_PER_SLOT), i64::MAX] {
                let left = limit - claimed.len() as i64;
                if left <= 0 {
                    break;
                }
                let rows = tx.query(
                    "WITH busy AS (
                     SELECT host, count(*) AS n FROM thau_sources
                     WHERE lease_until IS NOT NULL AND lease_until > $1 GROUP BY host
                 ), candidates AS (
                     SELECT source, host, due FROM thau_sources
                     WHERE due <= $1 AND (lease_until IS NULL OR lease_until <= $1)
                     ORDER BY due, source LIMIT $6
                 ), due AS (
                     SELECT source, host, due,
                            row_number() OVER (PARTITION BY host ORDER BY due, source) AS rank
                     FROM candidates
                 ), picked AS (
                     SELECT due.source FROM due LEFT JOIN busy USING (host)
                     WHERE due.host = '' OR due.rank + coalesce(busy.n, 0) <= $4
                     ORDER BY due.due, due.source LIMIT $3
                 )
                 UPDATE thau_sources s SET lease_until = $1 + $2, owner = $5
                 WHERE s.source IN (
                     SELECT source FROM thau_sources WHERE source IN (SELECT source FROM picked)
                     FOR UPDATE SKIP LOCKED
                 )
                 RETURNING s.source, s.due",
                    &[&now, &lease, &left, &per_host, &owner, &window],
                )?;
                claimed.extend(rows.iter().map(|r| (r.get(0), r.get(1))));
            }
            tx.commit()?;
            Ok(claimed)
        })
    }

    /// Ends `owner`'s lease on `source`, due next at `due`. A lease that
    /// expired and was taken over is left to its new owner.
    pub fn finish(&self, owner: &str, source: &str, due: i64) -> Result<bool, StoreError> {
        let (owner, source) = (owner.to_string(), source.to_string());
        self.run(move |c| {
            let n = c.execute(
                "UPDATE thau_sources SET due = $3, lease_until = NULL, owner = NULL WHERE source = $1 AND owner = $2",
                &[&source, &owner, &due],
            )?;
            Ok(n == 1)
        })
    }

    /// Extends `owner`'s lease on `source` to `until`; false when it no
    /// longer holds it.
    pub fn renew(&self, owner: &str, source: &str, until: i64) -> Result<bool, StoreError> {
        let (owner, source) = (owner.to_string(), source.to_string());
        self.run(move |c| {
            let n = c.execute(
                "UPDATE thau_sources SET lease_until = $3 WHERE source = $1 AND owner = $2",
                &[&source, &owner, &until],
            )?;
            Ok(n == 1)
        })
    }

    /// Makes `sources` due at `now` (their location changed: poll soon).
    pub fn due_now(&self, sources: &[String], now: i64) -> Result<(), StoreError> {
        let sources = sources.to_vec();
        self.run(move |c| {
            c.execute(
                "UPDATE thau_sources SET due = $2 WHERE source = ANY($1)",
                &[&sources, &now],
            )?;
            Ok(())
        })
    }

    /// Gives back every lease `owner` holds (at shutdown), due unchanged.
    pub fn release(&self, owner: &str) -> Result<(), StoreError> {
        let owner = owner.to_string();
        self.run(move |c| {
            c.execute(
                "UPDATE thau_sources SET lease_until = NULL, owner = NULL WHERE owner = $1",
                &[&owner],
            )?;
            Ok(())
        })
    }
}
