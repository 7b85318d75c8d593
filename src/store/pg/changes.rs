//! What instances tell each other: the change log (`thau_log`) read from
//! snapshots and trimmed, notifications, and which instance leads a duty.

use super::*;

impl Pg {
    /// The log rows this connection's snapshot shows that `seen` (the
    /// snapshot of the last read) did not, in commit order (those of
    /// transactions below its xmin it showed); and whether rows this reader
    /// had not read were pruned meanwhile (it must scan again). Run on a
    /// [`Pg::snapshot`]: what the reader applies then equals that snapshot,
    /// and the next read, with it as `seen`, misses nothing and repeats
    /// nothing.
    pub fn read_log(&self, seen: String) -> Result<(Vec<LogRow>, bool), StoreError> {
        self.run(move |c| {
            let rows = c.query(
                "SELECT writer, body FROM thau_log \
                 WHERE xid >= pg_snapshot_xmin($1::text::pg_snapshot)::text::int8 \
                 AND NOT pg_visible_in_snapshot(xid::text::xid8, $1::text::pg_snapshot) ORDER BY seq",
                &[&seen],
            )?;
            // The newest row pruned is past this reader's xmin, and its
            // last snapshot did not show it: it never read it. (Rows are
            // pruned minutes after they were written, so one pruned below
            // it that its snapshot did not show either is not a case.)
            let behind: bool = c.query(
                "SELECT xid > pg_snapshot_xmin($1::text::pg_snapshot)::text::int8 \
                 AND NOT pg_visible_in_snapshot((xid - 1)::text::xid8, $1::text::pg_snapshot) \
                 FROM thau_log_floor",
                &[&seen],
            )?[0]
                .get(0);
            Ok((rows.iter().map(|r| (r.get(0), r.get(1))).collect(), behind))
        })
    }

    /// Prunes log rows older than `keep` (publishers read them within
    /// moments; one that fell further behind scans the index again).
    pub fn trim_log(&self, keep: Duration) -> Result<u64, StoreError> {
        let secs = keep.as_secs_f64();
        self.run(move |c| {
            let client = c.client()?;
            let mut tx = client.transaction()?;
            // A reader whose next read starts at or below the newest row
            // pruned has missed it.
            let gone: i64 = tx
                .query_one(
                    "WITH gone AS (DELETE FROM thau_log WHERE at < now() - make_interval(secs => $1) RETURNING xid), \
                     floor AS (UPDATE thau_log_floor SET xid = greatest(xid, (SELECT coalesce(max(xid) + 1, 0) FROM gone))) \
                     SELECT count(*) FROM gone",
                    &[&secs],
                )?
                .get(0);
            tx.commit()?;
            Ok(gone as u64)
        })
    }

    /// From now on, this instance offers to do `duty` for all.
    pub fn contend(&self, duty: Duty) {
        lock(&self.duties).push(duty.key());
    }

    /// Whether this instance does `duty` now.
    pub fn leads(&self, duty: Duty) -> bool {
        lock(&self.held).contains(&duty.key())
    }

    /// Calls `heard` on a thread of its own whenever another instance
    /// changed entries, and once after each (re)connection, since
    /// notifications sent meanwhile are lost. Ends with the store.
    pub fn listen(&self, heard: impl Fn() + Send + 'static) -> Result<(), StoreError> {
        let (config, instance, stopping) = (self.config.clone(), self.instance.clone(), self.stopping.clone());
        let tls = self.tls.clone();
        let (duties, held) = (self.duties.clone(), self.held.clone());
        std::thread::Builder::new()
            .name("thau-pg-listen".into())
            .spawn(move || {
                let mut away = false;
                while !stopping.load(Ordering::SeqCst) {
                    let mut client = match tls.connect(&config) {
                        Ok(c) => c,
                        Err(e) => {
                            // Once per outage.
                            if !away {
                                tracing::warn!(error = %connect_error(&e), "store: cannot listen for changes; retrying every 2s");
                                away = true;
                            }
                            std::thread::sleep(Duration::from_secs(2));
                            continue;
                        }
                    };
                    away = false;
                    if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")) {
                        tracing::warn!(error = %e, "store: LISTEN failed; retrying");
                        std::thread::sleep(Duration::from_secs(2));
                        continue;
                    }
                    // Session locks went with the old connection.
                    lock(&held).clear();
                    heard();
                    while !stopping.load(Ordering::SeqCst) && !client.is_closed() {
                        // A duty whose instance went (its connection closed)
                        // is free: the first listener to ask takes it.
                        let wanted: Vec<i64> = lock(&duties).clone();
                        for duty in wanted {
                            if lock(&held).contains(&duty) {
                                continue;
                            }
                            if let Ok(row) = client.query_one("SELECT pg_try_advisory_lock($1)", &[&duty])
                                && row.get::<_, bool>(0)
                            {
                                lock(&held).insert(duty);
                            }
                        }
                        let mut any = false;
                        let mut notifications = client.notifications();
                        let mut it = notifications.timeout_iter(Duration::from_millis(500));
                        loop {
                            use postgres::fallible_iterator::FallibleIterator;
                            match it.next() {
                                Ok(Some(n)) => any |= n.payload() != instance,
                                Ok(None) => break,
                                Err(_) => break,
                            }
                        }
                        if any {
                            heard();
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Postgres(e.to_string()))?;
        Ok(())
    }
}
