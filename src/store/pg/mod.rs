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
//!
//! Here the pool of connections and its threads; `map` is the byte map,
//! `claims` the shared schedule, `changes` the log, notifications and
//! duties.

use std::collections::{HashMap, VecDeque};

use std::sync::atomic::{AtomicBool, Ordering};

use std::sync::{Arc, Mutex, mpsc};

use std::time::Duration;

use postgres::config::SslMode;

use postgres::{Client, NoTls, Statement, types::ToSql};

mod changes;
mod claims;
mod map;

use super::kv::{Batch, Value};

use super::{Reads, StoreError, lock};

/// Every migration, in order; the schema version is how many were applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/postgres/0001_init.sql"),
    include_str!("../../../migrations/postgres/0002_log.sql"),
    include_str!("../../../migrations/postgres/0003_leased_index.sql"),
    include_str!("../../../migrations/postgres/0004_binary_entries.sql"),
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
        let provider = crate::outbound::tls_provider();
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
