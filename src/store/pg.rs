//! The PostgreSQL backend: the store's byte map in table `thau_kv`, the
//! shared poll schedule in `thau_sources` (leases claimed with
//! `FOR UPDATE SKIP LOCKED`), the log of what writes changed in `thau_log`
//! (which publishers read in snapshots), and `LISTEN/NOTIFY` that wakes
//! them. Migrations ship in the binary
//! (`migrations/postgres/`) and are applied at open; a database with a newer
//! schema is refused. Used by `store` only.
//!
//! The `postgres` client blocks, and must not block inside the tokio
//! runtime's own threads: queries run on a few threads of our own, each with
//! its connection, and callers wait for the answer (as they wait for sled's
//! disk reads).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use postgres::config::SslMode;
use postgres::{Client, NoTls, Statement, types::ToSql};

use super::kv::{Batch, Value};
use super::{Reads, StoreError, lock};

/// Every migration, in order; the schema version is how many were applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_init.sql"),
    include_str!("../../migrations/postgres/0002_log.sql"),
    include_str!("../../migrations/postgres/0003_leased_index.sql"),
];
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Advisory lock keys: migrating, and claiming due sources.
const MIGRATE_LOCK: i64 = 0x7468_6175_0001;
const CLAIM_LOCK: i64 = 0x7468_6175_0002;
/// The channel publishers listen on; the payload is the writer's instance.
const CHANNEL: &str = "thau_changes";
/// A claim ranks per host the oldest due sources first, this many per free
/// slot (read through the due index), not every due source: all 100,000
/// of a national desk are due at its first start, and ranking them took
/// 157 ms per claim against 7 ms. The oldest due rows of each host among
/// them are its oldest due rows, so the per-host bound stays exact. (When
/// they do not fill the slots, every due source is ranked.)
const CANDIDATES_PER_SLOT: i64 = 16;
/// Connections of ended snapshots kept for the next ones.
const SPARE_SNAPSHOTS: usize = 2;
/// Rows read per round trip of a scan.
const PAGE: i64 = 1000;

type Job = Box<dyn FnOnce(&mut Conn) + Send>;

pub struct Pg {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
    config: postgres::Config,
    tls: Tls,
    /// This process, as its notifications name it.
    pub instance: String,
    stopping: Arc<AtomicBool>,
    /// Duties one instance does for all (advisory lock keys), and those
    /// this instance holds.
    duties: Arc<Mutex<Vec<i64>>>,
    held: Arc<Mutex<std::collections::HashSet<i64>>>,
    /// Connections of ended snapshots, for the next ones.
    snapshots: Arc<Mutex<Vec<Client>>>,
}

/// Work that one instance does for all: the lock a listener holds while
/// its instance does it, taken over when that instance goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duty {
    /// Sending WebSub pushes (publishers).
    Push,
    /// Applying the retention limits (pollers).
    Prune,
    /// Writing archive pages and digests (publishers): two writing at once
    /// could number the same stories into two pages.
    Archive,
}

impl Duty {
    /// Its advisory lock key.
    fn key(self) -> i64 {
        match self {
            Duty::Push => 0x7468_6175_0010,
            Duty::Prune => 0x7468_6175_0011,
            Duty::Archive => 0x7468_6175_0012,
        }
    }
}

/// How connections are made: plain, or TLS checked against roots.
#[derive(Clone)]
enum Tls {
    Plain,
    Rustls(tokio_postgres_rustls::MakeRustlsConnect),
}

impl Tls {
    /// TLS when `ca` is given (then required) or the url says
    /// `sslmode=require` (then checked against the system's roots); else
    /// plain, as `sslmode=prefer` gets from a client without TLS.
    fn for_url(config: &mut postgres::Config, ca: Option<&std::path::Path>) -> Result<Tls, StoreError> {
        if ca.is_none() && config.get_ssl_mode() != SslMode::Require {
            return Ok(Tls::Plain);
        }
        config.ssl_mode(SslMode::Require);
        let mut roots = rustls::RootCertStore::empty();
        match ca {
            Some(path) => {
                use rustls::pki_types::{CertificateDer, pem::PemObject};
                let unreadable = |e: &dyn std::fmt::Display| {
                    StoreError::Postgres(format!("[store] ca: cannot read {}: {e}", path.display()))
                };
                for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
                    roots
                        .add(cert.map_err(|e| unreadable(&e))?)
                        .map_err(|e| unreadable(&e))?;
                }
            }
            None => {
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            }
        }
        if roots.is_empty() {
            return Err(StoreError::Postgres(match ca {
                Some(path) => format!("[store] ca: no certificate in {}", path.display()),
                None => "sslmode=require: no system root certificate found; give [store] ca".into(),
            }));
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Postgres(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Tls::Rustls(tokio_postgres_rustls::MakeRustlsConnect::new(tls)))
    }

    fn connect(&self, config: &postgres::Config) -> Result<Client, postgres::Error> {
        match self {
            Tls::Plain => config.connect(NoTls),
            Tls::Rustls(tls) => config.connect(tls.clone()),
        }
    }
}

/// One worker's connection, with its prepared statements.
pub struct Conn {
    client: Option<Client>,
    statements: HashMap<&'static str, Statement>,
    config: postgres::Config,
    tls: Tls,
    /// Inside a transaction that must not silently become another: a lost
    /// connection is an error, not reopened.
    pinned: bool,
    /// How many times a worker of this pool found its connection closed
    /// (the server restarted, say), and that count when this connection
    /// was opened: the others then reconnect before their next job rather
    /// than each failing one job first.
    lost: Arc<std::sync::atomic::AtomicU64>,
    connected_at: u64,
}

impl Conn {
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        let lost = self.lost.load(Ordering::SeqCst);
        let stale = self.client.is_some() && lost != self.connected_at && !self.pinned;
        if stale || self.client.as_ref().is_none_or(|c| c.is_closed()) {
            if self.pinned {
                return Err(StoreError::Unavailable("the connection of a snapshot closed".into()));
            }
            self.statements.clear();
            self.client = None;
            self.client = Some(self.tls.connect(&self.config)?);
            self.connected_at = lost;
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    /// After a failed job: whether the connection is still there (one
    /// round trip, on failures only). If not, every connection of the pool
    /// is replaced before its next job.
    fn check_after_failure(&mut self) {
        if self.pinned {
            return;
        }
        let gone = self
            .client
            .as_mut()
            .is_some_and(|c| c.is_closed() || c.is_valid(std::time::Duration::from_secs(2)).is_err());
        if gone {
            self.client = None;
            self.lost.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn statement(&mut self, sql: &'static str) -> Result<Statement, StoreError> {
        // (A new connection first, if this one is to be replaced: it forgets
        // the statements prepared on the old one.)
        self.client()?;
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client()?.prepare(sql)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    fn query(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<postgres::Row>, StoreError> {
        let s = self.statement(sql)?;
        Ok(self.client()?.query(&s, params)?)
    }

    fn execute(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let s = self.statement(sql)?;
        Ok(self.client()?.execute(&s, params)?)
    }
}

impl Pg {
    /// Connects (`connections` worker connections), applies the migrations
    /// this database lacks, and refuses a database migrated by a newer thau.
    pub fn open(url: &str, connections: usize, ca: Option<&std::path::Path>) -> Result<Arc<Pg>, StoreError> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| StoreError::Postgres(format!("the url: {e}")))?;
        if config.get_application_name().is_none() {
            // What pg_stat_activity shows an admin.
            config.application_name("thau");
        }
        let tls = Tls::for_url(&mut config, ca)?;
        // (On a thread of its own: the client must not block the caller's
        // async runtime.)
        let first = {
            let (config, tls) = (config.clone(), tls.clone());
            std::thread::spawn(move || -> Result<Client, StoreError> {
                let mut first = tls
                    .connect(&config)
                    .map_err(|e| StoreError::Postgres(connect_error(&e)))?;
                migrate(&mut first)?;
                Ok(first)
            })
            .join()
            .map_err(|_| StoreError::Postgres("migrating the schema panicked".into()))??
        };
        Pg::start(config, tls, Some(first), connections, None)
    }

    /// Starts `connections` workers, the first on `first`; a snapshot's
    /// one worker gives its connection back to `spare` when it ends.
    fn start(
        config: postgres::Config,
        tls: Tls,
        first: Option<Client>,
        connections: usize,
        spare: Option<Arc<Mutex<Vec<Client>>>>,
    ) -> Result<Arc<Pg>, StoreError> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut workers = Vec::with_capacity(connections);
        let mut first = first;
        let lost = Arc::new(std::sync::atomic::AtomicU64::new(0));
        for i in 0..connections.max(1) {
            let (rx, spare) = (rx.clone(), spare.clone());
            let mut conn = Conn {
                client: first.take(),
                statements: HashMap::new(),
                config: config.clone(),
                tls: tls.clone(),
                pinned: false,
                lost: lost.clone(),
                connected_at: 0,
            };
            let worker = std::thread::Builder::new()
                .name(format!("thau-pg-{i}"))
                .spawn(move || {
                    loop {
                        let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        match job {
                            Ok(job) => job(&mut conn),
                            Err(_) => break,
                        }
                    }
                    // A snapshot's connection serves the next one.
                    if let (Some(spare), Some(mut client)) = (spare, conn.client.take())
                        && !client.is_closed()
                        && client.batch_execute("ROLLBACK").is_ok()
                    {
                        let mut spare = lock(&spare);
                        if spare.len() < SPARE_SNAPSHOTS {
                            spare.push(client);
                        }
                    }
                })
                .map_err(|e| StoreError::Postgres(e.to_string()))?;
            workers.push(worker);
        }
        Ok(Arc::new(Pg {
            jobs: Mutex::new(Some(tx)),
            workers: Mutex::new(workers),
            config,
            tls,
            instance: format!(
                "{}-{}-{}",
                std::process::id(),
                chrono::Utc::now().timestamp_millis(),
                uuid::Uuid::new_v4().simple()
            ),
            stopping: Arc::new(AtomicBool::new(false)),
            duties: Arc::default(),
            held: Arc::default(),
            snapshots: Arc::default(),
        }))
    }

    /// A reader of one consistent snapshot of the database (a read-only
    /// repeatable-read transaction on a connection of its own, which ends
    /// with it), and that snapshot (`pg_current_snapshot()`), which tells
    /// the log rows it sees from those it does not.
    pub fn snapshot(&self) -> Result<(Arc<Pg>, String), StoreError> {
        let spare = lock(&self.snapshots).pop();
        let reused = spare.is_some();
        let pg = Pg::start(
            self.config.clone(),
            self.tls.clone(),
            spare,
            1,
            Some(self.snapshots.clone()),
        )?;
        let snapshot = pg.run(move |c| {
            let begin = |c: &mut Conn| -> Result<String, StoreError> {
                let client = c.client()?;
                client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
                Ok(client.query_one("SELECT pg_current_snapshot()::text", &[])?.get(0))
            };
            let snapshot = match begin(c) {
                Ok(snapshot) => snapshot,
                // A kept connection the server closed meanwhile (it
                // restarted): a new one.
                Err(_) if reused => {
                    c.client = None;
                    begin(c)?
                }
                Err(e) => return Err(e),
            };
            // From now on inside the transaction: never another connection.
            c.pinned = true;
            Ok(snapshot)
        })?;
        Ok((pg, snapshot))
    }

    /// Runs `f` on a worker's connection and waits for its answer.
    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            if result.is_err() {
                conn.check_after_failure();
            }
            let _ = tx.send(result);
        });
        let sent = match &*self.jobs.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(jobs) => jobs.send(job).is_ok(),
            None => false,
        };
        if !sent {
            return Err(StoreError::Unavailable("the PostgreSQL store is closed".into()));
        }
        rx.recv()
            .map_err(|_| StoreError::Unavailable("a PostgreSQL worker stopped".into()))?
    }

    /// The values of `keys` stored, in one round trip.
    pub fn get_many(&self, keys: Vec<Vec<u8>>) -> Result<HashMap<Vec<u8>, Value>, StoreError> {
        self.run(move |c| {
            let rows = c.query("SELECT k, v FROM thau_kv WHERE k = ANY($1)", &[&keys])?;
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, Vec<u8>>(0), Value::from(r.get::<_, &[u8]>(1))))
                .collect())
        })
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        let key = key.to_vec();
        self.run(move |c| {
            let rows = c.query("SELECT v FROM thau_kv WHERE k = $1", &[&key])?;
            Ok(rows.first().map(|r| Value::from(r.get::<_, &[u8]>(0))))
        })
    }

    pub fn insert(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let (key, value) = (key.to_vec(), value.to_vec());
        self.run(move |c| {
            c.execute(
                "INSERT INTO thau_kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                &[&key, &value],
            )?;
            Ok(())
        })
    }

    /// Written once records are what publishers render (archive pages,
    /// digests): the first instance to write one tells the others.
    pub fn insert_once(&self, key: &[u8], value: &[u8], log: Vec<u8>) -> Result<Value, StoreError> {
        let (key, value, instance) = (key.to_vec(), value.to_vec(), self.instance.clone());
        self.run(move |c| {
            let sql = Prepared::of(c)?;
            let mut tx = c.client()?.transaction()?;
            let inserted = tx.execute(
                "INSERT INTO thau_kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO NOTHING",
                &[&key, &value],
            )?;
            if inserted == 1 {
                tell(&mut tx, &sql, &instance, &log)?;
            }
            let rows = tx.query(&sql.get, &[&key])?;
            tx.commit()?;
            Ok(rows
                .first()
                .map_or_else(|| Value::from(value.as_slice()), |r| Value::from(r.get::<_, &[u8]>(0))))
        })
    }

    pub fn compare_and_swap(&self, key: &[u8], old: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError> {
        let (key, old, new) = (key.to_vec(), old.map(<[u8]>::to_vec), new.to_vec());
        self.run(move |c| {
            let n = match old {
                Some(old) => c.execute("UPDATE thau_kv SET v = $3 WHERE k = $1 AND v = $2", &[&key, &old, &new])?,
                None => c.execute(
                    "INSERT INTO thau_kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO NOTHING",
                    &[&key, &new],
                )?,
            };
            Ok(n == 1)
        })
    }

    pub fn remove(&self, key: &[u8]) -> Result<(), StoreError> {
        let key = key.to_vec();
        self.run(move |c| {
            c.execute("DELETE FROM thau_kv WHERE k = $1", &[&key])?;
            Ok(())
        })
    }

    /// A scan read a page of rows at a time.
    pub fn scan(self: Arc<Self>, from: Vec<u8>, to: Option<Vec<u8>>, rev: bool) -> Scan {
        Scan {
            pg: self,
            from,
            from_inclusive: true,
            to,
            rev,
            rows: VecDeque::new(),
            done: false,
        }
    }

    /// Applies a batch in one transaction.
    pub fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        let instance = self.instance.clone();
        self.run(move |c| {
            let sql = Prepared::of(c)?;
            let mut tx = c.client()?.transaction()?;
            write_batch(&mut tx, &sql, batch, &instance)?;
            tx.commit()?;
            Ok(())
        })
    }

    /// One transaction: takes an advisory lock per key of `keys` (sorted:
    /// no deadlock between writers), reads them in one query, lets `merge`
    /// read more and say what to write, writes it and commits.
    /// Writers on other instances that touch the same keys wait their turn,
    /// so none merges into a story another is rewriting.
    pub fn write_locked<T: Send + 'static>(
        &self,
        keys: Vec<Vec<u8>>,
        merge: impl FnOnce(&mut Reads<'_>) -> Result<(Batch, T), StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let instance = self.instance.clone();
        self.run(move |c| {
            // Statements prepared once per connection: a poll's transaction
            // is then one round trip per statement.
            let sql = Prepared::of(c)?;
            let mut tx = c.client()?.transaction()?;
            let mut ids: Vec<i64> = keys.iter().map(|k| key_lock(k)).collect();
            ids.sort_unstable();
            ids.dedup();
            if !ids.is_empty() {
                tx.execute(&sql.lock, &[&ids])?;
            }
            let found: HashMap<Vec<u8>, Value> = if keys.is_empty() {
                HashMap::new()
            } else {
                tx.query(&sql.get_many, &[&keys])?
                    .iter()
                    .map(|r| (r.get::<_, Vec<u8>>(0), Value::from(r.get::<_, &[u8]>(1))))
                    .collect()
            };
            let (batch, out) = {
                let (tx, get) = (&mut tx, &sql.get);
                let mut reads = Reads::with(move |k| {
                    let rows = tx.query(get, &[&k])?;
                    Ok(rows.first().map(|r| Value::from(r.get::<_, &[u8]>(0))))
                });
                for k in keys {
                    let v = found.get(&k).cloned();
                    reads.seed(k, v);
                }
                merge(&mut reads)?
            };
            write_batch(&mut tx, &sql, batch, &instance)?;
            tx.commit()?;
            Ok(out)
        })
    }

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

    /// Stops the workers and the listener (after the jobs already queued).
    pub fn close(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        drop(self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take());
        for worker in std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner())) {
            let _ = worker.join();
        }
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        self.close();
    }
}

/// Writes a batch inside `tx`: removals, then upserts, then (when it tells
/// publishers something) its log row and the notification that wakes them,
/// sent at commit.
/// The statements of a write, prepared on one connection.
struct Prepared {
    lock: Statement,
    get: Statement,
    get_many: Statement,
    delete: Statement,
    upsert: Statement,
    notify: Statement,
    log: Statement,
}

impl Prepared {
    fn of(c: &mut Conn) -> Result<Prepared, StoreError> {
        Ok(Prepared {
            lock: c.statement("SELECT count(pg_advisory_xact_lock(l)) FROM unnest($1::int8[]) AS l")?,
            get: c.statement("SELECT v FROM thau_kv WHERE k = $1")?,
            get_many: c.statement("SELECT k, v FROM thau_kv WHERE k = ANY($1)")?,
            delete: c.statement("DELETE FROM thau_kv WHERE k = ANY($1)")?,
            upsert: c.statement(
                "INSERT INTO thau_kv (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
                 ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
            )?,
            notify: c.statement("SELECT pg_notify($1, $2)")?,
            log: c.statement("INSERT INTO thau_log (writer, body) VALUES ($1, $2)")?,
        })
    }
}

fn write_batch(
    tx: &mut postgres::Transaction<'_>,
    sql: &Prepared,
    batch: Batch,
    instance: &str,
) -> Result<(), StoreError> {
    let (ops, log) = batch.into_parts();
    let (mut set_k, mut set_v, mut del) = (Vec::new(), Vec::new(), Vec::new());
    for (k, v) in ops {
        match v {
            Some(v) => {
                set_k.push(k);
                set_v.push(v);
            }
            None => del.push(k),
        }
    }
    if !del.is_empty() {
        tx.execute(&sql.delete, &[&del])?;
    }
    if !set_k.is_empty() {
        tx.execute(&sql.upsert, &[&set_k, &set_v])?;
    }
    if let Some(log) = log {
        tell(tx, sql, instance, &log)?;
    }
    Ok(())
}

/// Tells publishers what the write in `tx` did: its log row, and the
/// notification that wakes them (sent at commit).
fn tell(tx: &mut postgres::Transaction<'_>, sql: &Prepared, instance: &str, log: &[u8]) -> Result<(), StoreError> {
    tx.execute(&sql.log, &[&instance, &log])?;
    tx.execute(&sql.notify, &[&CHANNEL, &instance])?;
    Ok(())
}

/// Applies the migrations the database lacks, one transaction, while
/// holding an advisory lock (instances starting together migrate once).
fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS thau_schema (version integer NOT NULL)")?;
    let found: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM thau_schema", &[])?
        .get(0);
    let found = found as usize;
    if found > SCHEMA_VERSION {
        return Err(StoreError::PgSchema {
            found,
            expected: SCHEMA_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found) {
        tx.batch_execute(sql)?;
        tx.execute("INSERT INTO thau_schema (version) VALUES ($1)", &[&((i + 1) as i32)])?;
        tracing::info!(version = i + 1, "store: PostgreSQL schema migrated");
    }
    tx.commit()?;
    Ok(())
}

/// The advisory lock of a key, the same in every instance.
fn key_lock(key: &[u8]) -> i64 {
    crate::model::stable_hash(key) as i64
}

/// A connection error with its cause (the `postgres` error alone says only
/// "error connecting to server").
fn connect_error(e: &postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("cannot connect to PostgreSQL: {cause}"),
        None => format!("cannot connect to PostgreSQL: {e}"),
    }
}

/// A row of the log: its writer (an instance) and what it says.
pub type LogRow = (String, Vec<u8>);

/// Rows of a key range, a page per round trip.
pub struct Scan {
    pg: Arc<Pg>,
    from: Vec<u8>,
    from_inclusive: bool,
    to: Option<Vec<u8>>,
    rev: bool,
    rows: VecDeque<(Value, Value)>,
    done: bool,
}

impl Scan {
    fn fetch(&mut self) -> Result<(), StoreError> {
        let (from, inclusive, to, rev) = (self.from.clone(), self.from_inclusive, self.to.clone(), self.rev);
        let rows: Vec<(Vec<u8>, Value)> = self.pg.run(move |c| {
            let rows = match (rev, to) {
                (false, Some(to)) if inclusive => c.query(
                    "SELECT k, v FROM thau_kv WHERE k >= $1 AND k < $2 ORDER BY k LIMIT $3",
                    &[&from, &to, &PAGE],
                )?,
                (false, Some(to)) => c.query(
                    "SELECT k, v FROM thau_kv WHERE k > $1 AND k < $2 ORDER BY k LIMIT $3",
                    &[&from, &to, &PAGE],
                )?,
                (false, None) if inclusive => c.query(
                    "SELECT k, v FROM thau_kv WHERE k >= $1 ORDER BY k LIMIT $2",
                    &[&from, &PAGE],
                )?,
                (false, None) => c.query(
                    "SELECT k, v FROM thau_kv WHERE k > $1 ORDER BY k LIMIT $2",
                    &[&from, &PAGE],
                )?,
                (true, Some(to)) => c.query(
                    "SELECT k, v FROM thau_kv WHERE k >= $1 AND k < $2 ORDER BY k DESC LIMIT $3",
                    &[&from, &to, &PAGE],
                )?,
                (true, None) => c.query(
                    "SELECT k, v FROM thau_kv WHERE k >= $1 ORDER BY k DESC LIMIT $2",
                    &[&from, &PAGE],
                )?,
            };
            Ok(rows
                .iter()
                .map(|r| (r.get::<_, Vec<u8>>(0), Value::from(r.get::<_, &[u8]>(1))))
                .collect())
        })?;
        self.done = (rows.len() as i64) < PAGE;
        if let Some((last, _)) = rows.last() {
            if rev {
                self.to = Some(last.clone());
            } else {
                self.from = last.clone();
                self.from_inclusive = false;
            }
        }
        self.rows.extend(rows.into_iter().map(|(k, v)| (Value::from(k), v)));
        Ok(())
    }
}

impl Iterator for Scan {
    type Item = Result<(Value, Value), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rows.is_empty()
            && !self.done
            && let Err(e) = self.fetch()
        {
            self.done = true;
            return Some(Err(e));
        }
        self.rows.pop_front().map(Ok)
    }
}
