//! The store: entries, the index sections are rendered from, and
//! per-source fetch state, all in one ordered byte map ([`Db`]: a sled tree,
//! or PostgreSQL's `thau_kv` table), so that one batch per source poll
//! commits atomically and both backends hold the same bytes under the same
//! keys. Depends on `model` and `config`.
//!
//! Keys (`\0` separates parts; names and folded categories never hold one):
//!
//! | key                             | value                                  |
//! |---------------------------------|----------------------------------------|
//! | `meta\0schema`                  | schema version (decimal)               |
//! | `e\0{entry key}`                | [`Entry`], compressed JSON ([`codec`]) |
//! | `l\0{canonical link}`           | entry key, when it is not `u:{link}`   |
//! | `f\0{source}`                   | [`FetchState`] as JSON                 |
//! | `t\0{published, newest first}{key}` | [`Routing`]: what sections need    |
//! | `p\0{path}`                     | [`PublishMark`] of a published file    |
//! | `d\0{source}`                   | what the source's last document listed ([`Listed`]: keys and fingerprints) |
//! | `g\0{slug}\0{period end}`        | a section's frozen digest (`digest::Digest` as JSON), written once |
//! | `r\0{slug}\0{page, u32}`          | a section's archive page ([`crate::model::ArchivePage`] as JSON), written once |
//! | `w\0{topic}\0{callback}`          | a verified WebSub subscription to one of our feeds (`websub::Subscription` as JSON) |
//! | `W\0{source}`                    | our subscription to a source's hub (`websub::subscriber::Push` as JSON) |
//!
//! The `t` index is what sections are rendered from: a scan newest-first
//! that decides membership from the small [`Routing`] value alone, without
//! reading entries that do not belong. One index key per entry keeps the
//! poll's batch small (sled's cost grows with the number of keys written).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use chrono::{DateTime, Utc};

use crate::model::{Entry, FetchState, Outcome, SourceRef, distinct_folded, fold};

mod codec;
mod db;
mod pg;
pub use codec::Listed;
use db::Batch;
pub use db::Db;
pub use pg::{Duty, Pg};

/// Bumped whenever the layout above or the meaning of a record changes.
/// 2: compact records ([`codec`]); version 1 stores (JSON records) are
/// read as they are and marked 2, so an older thau refuses them clearly.
pub const SCHEMA_VERSION: u32 = 2;
const READABLE_VERSIONS: [&[u8]; 2] = [b"1", b"2"];
const SCHEMA_KEY: &[u8] = b"meta\0schema";
const LOCK_FILE: &str = "thau.lock";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {} is in use by another thau process", path.display())]
    InUse { path: PathBuf },
    #[error("cannot open store {}: {source}", path.display())]
    Open { path: PathBuf, source: std::io::Error },
    #[error("store {} has schema version {found}, but this thau reads version {expected}", path.display())]
    Schema {
        path: PathBuf,
        found: String,
        expected: u32,
    },
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    #[error("the target store is not empty (it holds {key:?}): migrate into an empty one")]
    NotEmpty { key: String },
    #[error("store (PostgreSQL): {0}")]
    Postgres(String),
    #[error("the PostgreSQL database has schema version {found}, but this thau reads version {expected}: upgrade thau")]
    PgSchema { found: usize, expected: usize },
    #[error("store: cannot write to disk: {0}")]
    Flush(String),
    #[error("store unavailable until it can be written again: {0}")]
    Unavailable(String),
    #[error("store: corrupt record {key:?}: {why}")]
    Corrupt { key: String, why: String },
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> StoreError {
        // The server's own message says why ("db error" alone does not),
        // and a connection error its cause ("connection refused").
        match (e.as_db_error(), std::error::Error::source(&e)) {
            (Some(db), _) => StoreError::Postgres(format!("{} ({})", db.message(), db.code().code())),
            (None, Some(cause)) => StoreError::Postgres(format!("{e}: {cause}")),
            (None, None) => StoreError::Postgres(e.to_string()),
        }
    }
}

/// What [`Store::copy_into`] copied.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    pub records: u64,
    pub entries: u64,
    /// Sources with a fetch state.
    pub sources: u64,
}

/// Records per batch when copying a store.
const COPY_BATCH: usize = 2000;

/// What one poll did to the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub new: u32,
    pub updated: u32,
    pub unchanged: u32,
}

impl Counts {
    pub fn outcome(&self) -> Outcome {
        if self.new > 0 {
            Outcome::New
        } else if self.updated > 0 {
            Outcome::Updated
        } else {
            Outcome::Unchanged
        }
    }
}

pub struct Store {
    /// The open sled database; None while it is being reopened after a
    /// write failed (sled 0.34 keeps failing every write after one I/O
    /// error, even once the disk has room again, until it is reopened).
    db: Arc<RwLock<Option<Db>>>,
    path: PathBuf,
    cache: u64,
    health: Mutex<Health>,
    /// Polls of different sources may touch the same entry (a relayed
    /// story): their read-merge-write sections take turns.
    write: Mutex<()>,
    commits: Arc<GroupCommit>,
    flusher: Option<std::thread::JoinHandle<()>>,
    /// What writes did to the entries since the publisher last asked; None
    /// while nobody asks (`thau poll`). (On PostgreSQL the log says it.)
    changes: Mutex<Option<Vec<Change>>>,
    /// On PostgreSQL, the snapshot the publisher last read (its next read
    /// of the log starts at its xmin, and skips the rows it shows); None
    /// before its first scan.
    log: Mutex<Option<String>>,
    /// How many times the database was reopened: writes reported as
    /// changes but not yet durable may be lost then.
    reopened: std::sync::atomic::AtomicU64,
    /// sled's own lock file (None on PostgreSQL, which many share).
    _lock: Option<File>,
}

/// What one write did to the entries: the index rows it removed (with the
/// entry as it was, which keyword sections need to judge it) and the
/// entries it wrote. The publisher keeps its selection up to date with it.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Change {
    pub removed: Vec<(IndexRow, Option<Arc<Entry>>)>,
    pub added: Vec<(IndexRow, Arc<Entry>)>,
}

impl Change {
    fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty()
    }
}

/// How long the log keeps a change for publishers (PostgreSQL).
pub const LOG_KEEP: std::time::Duration = std::time::Duration::from_secs(600);

/// What a write tells the publishers of every instance, on PostgreSQL: a
/// row of `thau_log`, written in the write's transaction.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
enum Logged {
    /// It changed entries.
    Change(LoggedChange),
    /// It wrote page `page` of a section's archive.
    Archived { section: String, page: u32 },
    /// It froze a digest of a section.
    Digest { section: String },
    /// Anything else (a migration's copy): scan everything again.
    Rescan,
}

impl Logged {
    fn encode(&self) -> Vec<u8> {
        codec::compressed_json(self)
    }
}

/// A [`Change`] as the log keeps it: the entries removed as they were, but
/// only the index rows of those added, whose text the store holds (writing
/// each new entry twice cost PostgreSQL a third of its poll rate).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct LoggedChange {
    removed: Vec<(IndexRow, Option<Arc<Entry>>)>,
    added: Vec<IndexRow>,
}

impl LoggedChange {
    fn of(change: Change) -> LoggedChange {
        LoggedChange {
            removed: change.removed,
            added: change.added.into_iter().map(|(row, _)| row).collect(),
        }
    }
}

/// Gives logged changes, read in one snapshot in commit order, the entries
/// they added: the version a later change of the same read removed (it
/// logged it), else the one the snapshot holds (no later change touched
/// it). Read in one round trip.
fn resolve(snapshot: &pg::Pg, logged: Vec<LoggedChange>) -> Result<Vec<Change>, StoreError> {
    // For each key removed: the changes that removed it, in order.
    let mut removals: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
    for (i, change) in logged.iter().enumerate() {
        for (r, (row, _)) in change.removed.iter().enumerate() {
            removals.entry(row.key.as_str()).or_default().push((i, r));
        }
    }
    let later_removal = |i: usize, key: &str| {
        removals
            .get(key)
            .and_then(|list| list.iter().find(|(j, _)| *j > i))
            .and_then(|&(j, r)| logged[j].removed[r].1.clone())
    };
    let mut found: Vec<Vec<Option<Arc<Entry>>>> = Vec::with_capacity(logged.len());
    let mut missing = Vec::new();
    for (i, change) in logged.iter().enumerate() {
        let entries: Vec<Option<Arc<Entry>>> = change.added.iter().map(|row| later_removal(i, &row.key)).collect();
        missing.extend(
            change
                .added
                .iter()
                .zip(&entries)
                .filter(|(_, e)| e.is_none())
                .map(|(row, _)| entry_key(&row.key)),
        );
        found.push(entries);
    }
    let stored = if missing.is_empty() {
        HashMap::new()
    } else {
        snapshot.get_many(missing)?
    };
    let mut changes = Vec::with_capacity(logged.len());
    for (change, entries) in logged.into_iter().zip(found) {
        let mut added = Vec::with_capacity(change.added.len());
        for (row, entry) in change.added.into_iter().zip(entries) {
            let entry = match entry {
                Some(e) => e,
                None => {
                    let key = entry_key(&row.key);
                    let Some(v) = stored.get(&key) else {
                        return Err(StoreError::Corrupt {
                            key: row.key,
                            why: "the log added an entry its snapshot does not hold".into(),
                        });
                    };
                    Arc::new(codec::decode_entry(&key, v)?)
                }
            };
            added.push((row, entry));
        }
        changes.push(Change {
            removed: change.removed,
            added,
        });
    }
    Ok(changes)
}

/// What writes did since the publisher last asked ([`Store::follow`]).
#[derive(Debug, Default)]
pub struct Taken {
    /// In the order they were made.
    pub changes: Vec<Change>,
    /// Archive pages (section, number) and digests (section) other
    /// instances wrote.
    pub archived: Vec<(String, u32)>,
    pub digests: Vec<String>,
    /// The changes cannot be known (the first call, the log pruned past
    /// this reader, a copy that rewrote the store): make the selection
    /// again from a scan.
    pub rescan: bool,
}

impl IndexRow {
    fn of(entry: &Entry) -> IndexRow {
        IndexRow {
            key: entry.key.clone(),
            // (When it sorts: its date unless implausibly far ahead.)
            published: entry.sort_time(),
            routing: Routing::of(entry),
        }
    }
}

/// Whether the store can be written, as `/healthz` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoreHealth {
    pub writable: bool,
    /// Why writes began to fail, while they have not succeeded since.
    pub error: Option<String>,
    /// Since when writes fail.
    pub since: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
struct Health {
    /// When the current run of failures began, and its first error.
    failing: Option<(DateTime<Utc>, String)>,
    last_reopen: Option<std::time::Instant>,
}

/// How often a failing store is reopened to see whether writes work again.
const REOPEN_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

impl Store {
    /// Opens (or creates) the store at `path` with the default cache. Only
    /// one process may hold it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, crate::config::DEFAULT_STORE_CACHE)
    }

    /// Opens the store `[store]` describes.
    pub fn open_config(config: &crate::config::StoreConfig) -> Result<Store, StoreError> {
        match &config.backend {
            crate::config::Backend::Sled => Store::open_with(&config.path, config.cache),
            crate::config::Backend::Postgres {
                url, connections, ca, ..
            } => Store::open_postgres_with(&url.0, *connections, ca.as_deref()),
        }
    }

    /// Opens the store in a PostgreSQL database (migrating its schema),
    /// with `connections` connections. Any number of processes may.
    pub fn open_postgres(url: &str, connections: usize) -> Result<Store, StoreError> {
        Store::open_postgres_with(url, connections, None)
    }

    /// As [`Store::open_postgres`]; with `ca` (a PEM file), or with
    /// `sslmode=require` in `url` (then the system's roots), connections
    /// are TLS, with the server's certificate checked.
    pub fn open_postgres_with(url: &str, connections: usize, ca: Option<&Path>) -> Result<Store, StoreError> {
        Ok(Store::on_postgres(pg::Pg::open(url, connections, ca)?))
    }

    fn on_postgres(pg: Arc<pg::Pg>) -> Store {
        Store {
            db: Arc::new(RwLock::new(Some(Db::Postgres(pg)))),
            path: PathBuf::from("postgresql"),
            cache: 0,
            health: Mutex::new(Health::default()),
            write: Mutex::new(()),
            commits: Arc::new(GroupCommit::default()),
            flusher: None,
            changes: Mutex::new(None),
            log: Mutex::new(None),
            reopened: std::sync::atomic::AtomicU64::new(0),
            _lock: None,
        }
    }

    /// The PostgreSQL backend, when the store is on one.
    pub fn shared(&self) -> Option<Arc<pg::Pg>> {
        match self.db() {
            Ok(Db::Postgres(pg)) => Some(pg),
            _ => None,
        }
    }

    /// Copies every record into `target`, which must hold none (only its
    /// schema mark): the other backend's store, byte for byte, so ids,
    /// dates, fetch state, marks and archive pages stay as they were. Then
    /// counts both sides.
    pub fn copy_into(&self, target: &Store) -> Result<Copied, StoreError> {
        let into = target.db_for_write()?;
        if let Some(row) = into
            .scan_prefix(b"", false)
            .find(|r| r.as_ref().map_or(true, |(k, _)| k.as_ref() != SCHEMA_KEY))
        {
            let (k, _) = row?;
            return Err(StoreError::NotEmpty {
                key: String::from_utf8_lossy(&k).into_owned(),
            });
        }
        let mut copied = Copied::default();
        let mut batch = Batch::default();
        let mut pending = 0;
        for row in self.db()?.scan_prefix(b"", false) {
            let (k, v) = row?;
            if k.as_ref() == SCHEMA_KEY {
                continue;
            }
            copied.records += 1;
            if k.starts_with(b"e\0") {
                copied.entries += 1;
            } else if k.starts_with(b"f\0") {
                copied.sources += 1;
            }
            batch.insert(k.to_vec(), v.to_vec());
            pending += 1;
            if pending == COPY_BATCH {
                into.apply(std::mem::take(&mut batch))?;
                pending = 0;
            }
        }
        batch.log = Some(Logged::Rescan.encode());
        into.apply(batch)?;
        into.flush()?;
        let found = into
            .scan_prefix(b"", false)
            .filter(|r| r.as_ref().map_or(true, |(k, _)| k.as_ref() != SCHEMA_KEY))
            .count() as u64;
        if found != copied.records {
            return Err(StoreError::Corrupt {
                key: "(the whole store)".into(),
                why: format!("copied {} records but the target holds {found}", copied.records),
            });
        }
        Ok(copied)
    }

    /// Whether this instance does `duty` for all: on sled (one process)
    /// always; on PostgreSQL when it holds the duty's lock ([`Store::listen`]
    /// must run, after [`Pg::contend`]).
    pub fn leads(&self, duty: Duty) -> bool {
        self.shared().is_none_or(|pg| pg.leads(duty))
    }

    /// Which backend holds the store, for logs and `/healthz`.
    pub fn backend(&self) -> &'static str {
        if self.shared().is_some() { "postgres" } else { "sled" }
    }

    /// On PostgreSQL, calls `heard` when another instance wrote (then
    /// [`Store::follow`] has news).
    pub fn listen(&self, heard: impl Fn() + Send + 'static) -> Result<(), StoreError> {
        let Some(pg) = self.shared() else { return Ok(()) };
        pg.listen(heard)
    }

    /// Opens (or creates) the store at `path`, with a page cache of at most
    /// `cache` bytes.
    pub fn open_with(path: &Path, cache: u64) -> Result<Store, StoreError> {
        let open_error = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        std::fs::create_dir_all(path).map_err(open_error)?;
        // Our own lock, taken before sled's, so "in use" is a typed error
        // rather than a message to pick apart.
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.join(LOCK_FILE))
            .map_err(open_error)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::InUse { path: path.to_owned() });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(open_error(e)),
        }
        let db = open_sled(path, cache)?;
        match db.get(SCHEMA_KEY)? {
            Some(v) if v.as_ref() == SCHEMA_VERSION.to_string().as_bytes() => {}
            Some(v) if READABLE_VERSIONS.contains(&v.as_ref()) => {
                db.insert(SCHEMA_KEY, SCHEMA_VERSION.to_string().as_bytes())?;
                db.flush()?;
            }
            Some(v) => {
                return Err(StoreError::Schema {
                    path: path.to_owned(),
                    found: String::from_utf8_lossy(&v).into_owned(),
                    expected: SCHEMA_VERSION,
                });
            }
            None => {
                db.insert(SCHEMA_KEY, SCHEMA_VERSION.to_string().as_bytes())?;
                db.flush()?;
            }
        }
        let db = Arc::new(RwLock::new(Some(Db::Sled(db))));
        let commits = Arc::new(GroupCommit::default());
        let flusher = {
            let (db, commits) = (db.clone(), commits.clone());
            std::thread::Builder::new()
                .name("thau-store-flush".into())
                .spawn(move || commits.run(&db))
                .map_err(open_error)?
        };
        Ok(Store {
            db,
            path: path.to_owned(),
            cache,
            health: Mutex::new(Health::default()),
            write: Mutex::new(()),
            commits,
            flusher: Some(flusher),
            changes: Mutex::new(None),
            log: Mutex::new(None),
            reopened: std::sync::atomic::AtomicU64::new(0),
            _lock: Some(lock),
        })
    }

    /// From now on, keeps what each write does for [`Store::follow`].
    pub fn track_changes(&self) {
        lock(&self.changes).get_or_insert_with(Vec::new);
    }

    /// Changes once the database reopens (after a failed write): what was
    /// reported changed may not be there, so whoever kept a selection from
    /// the changes must scan again.
    pub fn generation(&self) -> u64 {
        self.reopened.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Runs `f` on the store as it is at one moment, with what writes did
    /// since the last call (or since [`Store::while_quiet`]): a publisher
    /// applies them to what it shows, and what it then reads from the store
    /// (to fill a page again) is the store those changes lead to. On sled
    /// while no write happens; on PostgreSQL in a snapshot (writers go on
    /// meanwhile), with what every instance wrote before it, from the log,
    /// in the order the writes committed.
    pub fn follow<T>(&self, f: impl FnOnce(&Store, Taken) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.at_once(true, f)
    }

    /// Runs `f` on the store as it is at one moment (a full scan of the
    /// index), from which [`Store::follow`] goes on without counting
    /// anything twice or missing anything.
    pub fn while_quiet<T>(&self, f: impl FnOnce(&Store) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.at_once(false, |view, _| f(view))
    }

    fn at_once<T>(
        &self,
        read_log: bool,
        f: impl FnOnce(&Store, Taken) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let Some(pg) = self.shared() else {
            let _turn = lock(&self.write);
            let changes = lock(&self.changes).as_mut().map(std::mem::take).unwrap_or_default();
            return f(
                self,
                Taken {
                    changes,
                    ..Taken::default()
                },
            );
        };
        let (snapshot, now) = pg.snapshot()?;
        let mut last = lock(&self.log);
        let taken = match last.take() {
            Some(seen) if read_log => {
                let (rows, behind) = snapshot.read_log(seen)?;
                if behind {
                    Taken {
                        rescan: true,
                        ..Taken::default()
                    }
                } else {
                    let mut taken = Taken::default();
                    let mut logged = Vec::new();
                    for (writer, body) in rows {
                        let mine = writer == pg.instance;
                        match codec::decode_json::<Logged>(b"(thau_log)", &body)? {
                            Logged::Change(change) => logged.push(change),
                            // (This instance's own are applied as it writes them.)
                            Logged::Archived { section, page } if !mine => taken.archived.push((section, page)),
                            Logged::Digest { section } if !mine => taken.digests.push(section),
                            Logged::Archived { .. } | Logged::Digest { .. } => {}
                            Logged::Rescan => taken.rescan = true,
                        }
                    }
                    if !taken.rescan {
                        taken.changes = resolve(&snapshot, logged)?;
                    }
                    taken
                }
            }
            _ => Taken {
                rescan: true,
                ..Taken::default()
            },
        };
        let result = f(&Store::on_postgres(snapshot), taken);
        // (Failed: the next call scans again.)
        *last = result.is_ok().then_some(now);
        result
    }

    /// On PostgreSQL, prunes what the log keeps for publishers beyond
    /// `keep`; returns the rows pruned.
    pub fn trim_log(&self, keep: std::time::Duration) -> Result<u64, StoreError> {
        match self.shared() {
            Some(pg) => pg.trim_log(keep),
            None => Ok(0),
        }
    }

    fn record(&self, change: Change) {
        if let Some(changes) = lock(&self.changes).as_mut() {
            changes.push(change);
        }
    }

    /// The database, for one operation.
    fn db(&self) -> Result<Db, StoreError> {
        self.db
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| StoreError::Unavailable(self.health().error.unwrap_or_default()))
    }

    /// The database, for a write: reopened first when writes have been
    /// failing (at most every few seconds).
    fn db_for_write(&self) -> Result<Db, StoreError> {
        self.recover();
        self.db()
    }

    /// Notes the outcome of a write: a failure makes the store unhealthy
    /// until a later write succeeds.
    pub(crate) fn wrote<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        let mut health = lock(&self.health);
        match &result {
            Ok(_) => health.failing = None,
            // The first error of a run of failures says why (a full disk);
            // the later ones are its consequences (a reopening under way).
            Err(e @ (StoreError::Sled(_) | StoreError::Flush(_) | StoreError::Postgres(_)))
                if health.failing.is_none() =>
            {
                health.failing = Some((Utc::now(), e.to_string()));
            }
            Err(_) => {}
        }
        result
    }

    pub fn health(&self) -> StoreHealth {
        let health = lock(&self.health);
        match &health.failing {
            None => StoreHealth {
                writable: true,
                ..StoreHealth::default()
            },
            Some((since, error)) => StoreHealth {
                writable: false,
                error: Some(error.clone()),
                since: Some(*since),
            },
        }
    }

    /// When writes have been failing, reopens the database (at most every
    /// [`REOPEN_EVERY`]) and checks that a write works again; the daemon
    /// calls this periodically so that health comes back without a poll.
    pub fn recover(&self) {
        {
            let mut health = lock(&self.health);
            if health.failing.is_none() || health.last_reopen.is_some_and(|t| t.elapsed() < REOPEN_EVERY) {
                return;
            }
            health.last_reopen = Some(std::time::Instant::now());
        }
        if let Some(pg) = self.shared() {
            // The workers reconnect by themselves: a write that works again
            // is all health needs.
            let probe = Db::Postgres(pg).insert(SCHEMA_KEY, SCHEMA_VERSION.to_string().as_bytes());
            self.wrote(probe).ok();
            return;
        }
        let _turn = lock(&self.write);
        let reopened = {
            let mut slot = self.db.write().unwrap_or_else(|e| e.into_inner());
            // sled releases its files only when the last handle goes.
            drop(slot.take());
            let reopened = open_sled(&self.path, self.cache);
            if let Ok(db) = &reopened {
                *slot = Some(Db::Sled(db.clone()));
                self.reopened.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            reopened
        };
        let probe = reopened.and_then(|db| {
            db.insert(SCHEMA_KEY, SCHEMA_VERSION.to_string().as_bytes())?;
            db.flush()?;
            Ok(())
        });
        self.wrote(probe).ok();
    }

    pub fn fetch_state(&self, source: &str) -> Result<Option<FetchState>, StoreError> {
        self.get_json(&state_key(source))
    }

    /// Records a poll that stored no entries (an error, a 304). Not flushed:
    /// losing it to a crash costs one extra fetch, never an entry.
    pub fn save_fetch_state(&self, source: &str, state: &FetchState) -> Result<(), StoreError> {
        let db = self.db_for_write()?;
        self.wrote(db.insert(state_key(source), to_json(state)))?;
        Ok(())
    }

    /// When the published document at `path` last changed, and its hash.
    pub fn publish_mark(&self, path: &str) -> Result<Option<PublishMark>, StoreError> {
        self.get_json(&[b"p\0", path.as_bytes()].concat())
    }

    /// Records that the document at `path` now has `mark.hash`, unless the
    /// store already says so; returns the mark in force. Publishers on
    /// several instances render the same bytes at about the same time: the
    /// first to record a hash sets its date for all (compare-and-swap), so
    /// they all send the same `Last-Modified`.
    pub fn set_publish_mark(&self, path: &str, mark: &PublishMark) -> Result<PublishMark, StoreError> {
        let db = self.db_for_write()?;
        let key = [b"p\0", path.as_bytes()].concat();
        loop {
            let old = db.get(&key)?;
            if let Some(old) = &old {
                let stored: PublishMark = decode(&key, old)?;
                if stored.hash == mark.hash {
                    return Ok(stored);
                }
            }
            if self.wrote(db.compare_and_swap(&key, old.as_deref(), &to_json(mark)))? {
                return Ok(mark.clone());
            }
        }
    }

    /// A section's frozen digests (`g\0{slug}\0{period end}`), newest
    /// first, at most `newest` of them. Digests are written once and never
    /// changed.
    pub fn digests<T: serde::de::DeserializeOwned>(&self, slug: &str, newest: usize) -> Result<Vec<T>, StoreError> {
        let db = self.db()?;
        db.scan_prefix(digest_prefix(slug), true)
            .take(newest)
            .map(|kv| {
                let (k, v) = kv?;
                decode(&k, &v)
            })
            .collect()
    }

    /// The end of the newest period a section's digest was frozen for.
    pub fn last_digest_end(&self, slug: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let prefix = digest_prefix(slug);
        let Some((k, _)) = self.db()?.scan_prefix(&prefix, true).next().transpose()? else {
            return Ok(None);
        };
        let stamp: [u8; 8] = k[prefix.len()..].try_into().map_err(|_| StoreError::Corrupt {
            key: String::from_utf8_lossy(&k).into_owned(),
            why: "a digest key ends with 8 bytes of time".into(),
        })?;
        let secs = (u64::from_be_bytes(stamp) ^ (1 << 63)) as i64;
        Ok(DateTime::from_timestamp(secs, 0))
    }

    /// Freezes a section's digest for the period ending at `end`.
    pub fn put_digest<T: serde::Serialize>(
        &self,
        slug: &str,
        end: DateTime<Utc>,
        digest: &T,
    ) -> Result<(), StoreError> {
        let db = self.db_for_write()?;
        let key = [
            digest_prefix(slug),
            ((end.timestamp() as u64) ^ (1 << 63)).to_be_bytes().to_vec(),
        ]
        .concat();
        // Written once: another instance may have frozen it first.
        let logged = Logged::Digest {
            section: slug.to_string(),
        };
        self.wrote(db.insert_once(&key, &to_json(digest), logged.encode()))?;
        Ok(())
    }

    pub fn entry(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        let key = entry_key(key);
        match self.db()?.get(&key)? {
            Some(v) => codec::decode_entry(&key, &v).map(Some),
            None => Ok(None),
        }
    }

    /// Every stored entry, in key order.
    pub fn entries(&self) -> Box<dyn Iterator<Item = Result<Entry, StoreError>> + Send> {
        match self.db() {
            Ok(db) => Box::new(db.scan_prefix(b"e\0", false).map(|kv| {
                let (k, v) = kv?;
                codec::decode_entry(&k, &v)
            })),
            Err(e) => Box::new(std::iter::once(Err(e))),
        }
    }

    /// Every entry's key and routing facts, newest (by `published`) first.
    pub fn recent(&self) -> Box<dyn Iterator<Item = Result<IndexRow, StoreError>> + Send> {
        self.index_rows(TIME_PREFIX.to_vec())
    }

    /// As [`Store::recent`], from just after the row of (`published`, `key`).
    pub fn recent_after(
        &self,
        published: DateTime<Utc>,
        key: &str,
    ) -> Box<dyn Iterator<Item = Result<IndexRow, StoreError>> + Send> {
        let mut from = [TIME_PREFIX, &newest_first(published), key.as_bytes()].concat();
        // The smallest key after this one.
        from.push(0);
        self.index_rows(from)
    }

    /// The time index oldest first, from just after the row of
    /// (`published`, `key`) when given (newer rows only), else from the
    /// oldest row.
    pub fn oldest_first_after(
        &self,
        after: Option<(DateTime<Utc>, &str)>,
    ) -> Box<dyn Iterator<Item = Result<IndexRow, StoreError>> + Send> {
        let db = match self.db() {
            Ok(db) => db,
            Err(e) => return Box::new(std::iter::once(Err(e))),
        };
        let upper = match after {
            Some((published, key)) => [TIME_PREFIX, &newest_first(published), key.as_bytes()].concat(),
            None => TIME_END.to_vec(),
        };
        Box::new(db.range(TIME_PREFIX.to_vec(), Some(upper), true).map(index_row))
    }

    fn index_rows(&self, from: Vec<u8>) -> Box<dyn Iterator<Item = Result<IndexRow, StoreError>> + Send> {
        let db = match self.db() {
            Ok(db) => db,
            Err(e) => return Box::new(std::iter::once(Err(e))),
        };
        Box::new(db.range(from, Some(TIME_END.to_vec()), false).map(index_row))
    }

    /// The WebSub subscriptions to `topic` (`w\0{topic}\0{callback}`).
    pub fn websub_subscriptions<T: serde::de::DeserializeOwned>(&self, topic: &str) -> Result<Vec<T>, StoreError> {
        self.db()?
            .scan_prefix([b"w\0", topic.as_bytes(), b"\0"].concat(), false)
            .map(|kv| {
                let (k, v) = kv?;
                decode(&k, &v)
            })
            .collect()
    }

    /// One WebSub subscription: `callback`'s to `topic`.
    pub fn websub_subscription<T: serde::de::DeserializeOwned>(
        &self,
        topic: &str,
        callback: &str,
    ) -> Result<Option<T>, StoreError> {
        self.get_json(&[b"w\0", topic.as_bytes(), b"\0", callback.as_bytes()].concat())
    }

    /// Records (or replaces) a WebSub subscription.
    pub fn put_websub<T: serde::Serialize>(&self, topic: &str, callback: &str, sub: &T) -> Result<(), StoreError> {
        let db = self.db_for_write()?;
        let key = [b"w\0", topic.as_bytes(), b"\0", callback.as_bytes()].concat();
        self.wrote(db.insert(key, to_json(sub)))?;
        Ok(())
    }

    pub fn remove_websub(&self, topic: &str, callback: &str) -> Result<(), StoreError> {
        let db = self.db_for_write()?;
        let key = [b"w\0", topic.as_bytes(), b"\0", callback.as_bytes()].concat();
        self.wrote(db.remove(key))?;
        Ok(())
    }

    /// Sets the full text of a stored entry (what `full_text` extracted),
    /// marking `source`'s version as full; false when the entry is gone.
    pub fn set_full_text(&self, key: &str, source: &str, html: String) -> Result<bool, StoreError> {
        let (key, source) = (key.to_string(), source.to_string());
        self.write_with(vec![entry_key(&key)], move |reads| {
            let mut batch = Batch::default();
            let Some(old) = reads.entry(&key)? else {
                return Ok((batch, Change::default(), false));
            };
            let mut new = old.clone();
            new.content = Some(html);
            if let Some(s) = new.sources.iter_mut().find(|s| s.name == source) {
                s.full_text = true;
            }
            batch.remove(time_key(&old));
            let row = IndexRow::of(&new);
            batch.insert(time_key(&new), codec::encode_routing(&row.routing));
            batch.insert(entry_key(&key), codec::encode_entry(&new));
            let change = Change {
                removed: vec![(IndexRow::of(&old), Some(Arc::new(old)))],
                added: vec![(row, Arc::new(new))],
            };
            Ok((batch, change, true))
        })
    }

    /// A source's WebSub subscription as a subscriber (`W\0{source}`).
    pub fn push_state<T: serde::de::DeserializeOwned>(&self, source: &str) -> Result<Option<T>, StoreError> {
        self.get_json(&[b"W\0", source.as_bytes()].concat())
    }

    pub fn put_push_state<T: serde::Serialize>(&self, source: &str, push: &T) -> Result<(), StoreError> {
        let db = self.db_for_write()?;
        let key = [b"W\0", source.as_bytes()].concat();
        self.wrote(db.insert(key, to_json(push)))?;
        Ok(())
    }

    pub fn remove_push_state(&self, source: &str) -> Result<(), StoreError> {
        let db = self.db_for_write()?;
        let key = [b"W\0", source.as_bytes()].concat();
        self.wrote(db.remove(key))?;
        Ok(())
    }

    /// A section's archive page `n` (`r\0{slug}\0{n}`), from 1.
    pub fn archive_page<T: serde::de::DeserializeOwned>(&self, slug: &str, n: u32) -> Result<Option<T>, StoreError> {
        self.get_json(&archive_key(slug, n))
    }

    /// A section's newest archive page: its number and record.
    pub fn last_archive_page<T: serde::de::DeserializeOwned>(
        &self,
        slug: &str,
    ) -> Result<Option<(u32, T)>, StoreError> {
        let prefix = archive_key(slug, 0)[..slug.len() + 3].to_vec();
        let Some((k, v)) = self.db()?.scan_prefix(&prefix, true).next().transpose()? else {
            return Ok(None);
        };
        let n: [u8; 4] = k[prefix.len()..].try_into().map_err(|_| StoreError::Corrupt {
            key: String::from_utf8_lossy(&k).into_owned(),
            why: "an archive key ends with a 4-byte page number".into(),
        })?;
        Ok(Some((u32::from_be_bytes(n), decode(&k, &v)?)))
    }

    /// Writes a section's archive page `n` unless it exists (pages are
    /// immutable); returns the page stored, which another instance may
    /// have written first.
    pub fn put_archive_page<T: serde::Serialize + serde::de::DeserializeOwned>(
        &self,
        slug: &str,
        n: u32,
        page: &T,
    ) -> Result<T, StoreError> {
        let db = self.db_for_write()?;
        let key = archive_key(slug, n);
        let logged = Logged::Archived {
            section: slug.to_string(),
            page: n,
        };
        let stored = self.wrote(db.insert_once(&key, &to_json(page), logged.encode()))?;
        decode(&key, &stored)
    }

    /// Keys of every entry that a source listed in its last document: those
    /// are never pruned.
    pub fn listed_keys(&self) -> Result<HashSet<String>, StoreError> {
        let mut keys = HashSet::new();
        for kv in self.db()?.scan_prefix(b"d\0", false) {
            let (k, v) = kv?;
            keys.extend(codec::decode_listed(&k, &v)?.into_iter().map(|l| l.stored));
        }
        Ok(keys)
    }

    /// What `source`'s last document listed (none before its first poll).
    pub fn listed(&self, source: &str) -> Result<Vec<Listed>, StoreError> {
        let key = listed_key(source);
        match self.db()?.get(&key)? {
            Some(v) => codec::decode_listed(&key, &v),
            None => Ok(Vec::new()),
        }
    }

    /// Removes entries (their record, index row and link row), in batches
    /// of at most [`REMOVE_BATCH`] entries (each atomic), then flushes.
    pub fn remove_entries(&self, keys: &[String]) -> Result<usize, StoreError> {
        let mut seen = HashSet::new();
        let keys: Vec<&String> = keys.iter().filter(|k| seen.insert(*k)).collect();
        let mut removed = 0;
        for chunk in keys.chunks(REMOVE_BATCH) {
            let chunk: Vec<String> = chunk.iter().map(|k| k.to_string()).collect();
            let entry_keys: Vec<Vec<u8>> = chunk.iter().map(|k| entry_key(k)).collect();
            removed += self.write_with(entry_keys, move |reads| {
                let mut batch = Batch::default();
                let mut change = Change::default();
                for key in &chunk {
                    let Some(entry) = reads.entry(key)? else { continue };
                    batch.remove(entry_key(key));
                    batch.remove(time_key(&entry));
                    if let Some(link) = &entry.link
                        && reads.get(link_key(link))?.is_some_and(|k| k.as_ref() == key.as_bytes())
                    {
                        batch.remove(link_key(link));
                    }
                    change.removed.push((IndexRow::of(&entry), Some(Arc::new(entry))));
                }
                let removed = change.removed.len();
                Ok((batch, change, removed))
            })?;
        }
        self.flush()?;
        Ok(removed)
    }

    /// The stored key when the source already delivered this entry with
    /// this fingerprint: the pipeline then skips sanitizing it.
    pub fn unchanged(
        &self,
        source: &str,
        key: &str,
        link: Option<&str>,
        fingerprint: &str,
    ) -> Result<Option<String>, StoreError> {
        let db = self.db()?;
        let mut reads = Reads::new(&db);
        let Some(found) = find(&mut reads, key, link)? else {
            return Ok(None);
        };
        let same = reads.entry(&found)?.is_some_and(|e| {
            e.sources
                .iter()
                .any(|s| s.name == source && s.fingerprint == fingerprint)
        });
        Ok(same.then_some(found))
    }

    /// Stores one source poll: merges `incoming` (each carrying this source as
    /// its only [`SourceRef`]) into what is stored, and records `state` with
    /// the poll's outcome, in one atomic batch. Durable once [`Store::flush`]
    /// (or [`Store::flush_async`]) returns.
    /// `unchanged` lists the entries the caller already found unchanged;
    /// with `incoming` they are what the source's document lists.
    pub fn apply_poll(
        &self,
        source: &str,
        incoming: Vec<Entry>,
        unchanged: Vec<Listed>,
        state: &mut FetchState,
        now: DateTime<Utc>,
    ) -> Result<Counts, StoreError> {
        self.apply(source, incoming, unchanged, state, now, Versions::Latest)
    }

    /// Stores what a WebSub hub pushed, as [`Store::apply_poll`] does, but
    /// an entry older than the source's version stored (by the source's
    /// own date) is ignored: a push replayed later reverts nothing. (A
    /// poll reads what the origin serves now, which may re-date entries.)
    pub fn apply_push(
        &self,
        source: &str,
        incoming: Vec<Entry>,
        unchanged: Vec<Listed>,
        state: &mut FetchState,
        now: DateTime<Utc>,
    ) -> Result<Counts, StoreError> {
        self.apply(source, incoming, unchanged, state, now, Versions::NotOlder)
    }

    fn apply(
        &self,
        source: &str,
        incoming: Vec<Entry>,
        unchanged: Vec<Listed>,
        state: &mut FetchState,
        now: DateTime<Utc>,
        versions: Versions,
    ) -> Result<Counts, StoreError> {
        // Encoding (JSON, compressed) is the costly part of writing an entry: done
        // before taking the write lock, so polls do it in parallel; used as
        // is for every entry that is new (re-encoded only when merged).
        let incoming: Vec<(Entry, Vec<u8>)> = incoming
            .into_iter()
            .map(|e| {
                let bytes = codec::encode_entry(&e);
                (e, bytes)
            })
            .collect();
        // What decides which stored story each entry is: held by this
        // write against writers on other instances, and read in one go.
        let mut keys = Vec::with_capacity(incoming.len() * 3);
        for (e, _) in &incoming {
            keys.push(entry_key(&e.key));
            if let Some(link) = &e.link {
                keys.push(entry_key(&format!("u:{link}")));
                keys.push(link_key(link));
            }
        }
        let (source_name, mut written_state) = (source.to_string(), state.clone());
        let (counts, written_state) = self.write_with(keys, move |reads| {
            let (batch, counts, change) = merge_poll(
                reads,
                &source_name,
                incoming,
                unchanged,
                &mut written_state,
                now,
                versions,
            )?;
            Ok((batch, change, (counts, written_state)))
        })?;
        *state = written_state;
        Ok(counts)
    }

    /// Runs `merge` (which reads what it needs and says what to write and
    /// what that changes) and writes its batch, atomically, while this
    /// process's other writers wait; the change goes to the publisher. On
    /// PostgreSQL it all happens in one transaction that first takes an
    /// advisory lock per key of `keys` (the identity of the stories it may
    /// touch), so that writers on other instances touching the same story
    /// wait their turn, reads them in one round trip, and logs the change
    /// for the publishers of every instance.
    fn write_with<T: Send + 'static>(
        &self,
        keys: Vec<Vec<u8>>,
        merge: impl FnOnce(&mut Reads<'_>) -> Result<(Batch, Change, T), StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db_for_write()?;
        let _turn = lock(&self.write);
        let written = match &db {
            Db::Sled(_) => {
                let mut reads = Reads::new(&db);
                merge(&mut reads).and_then(|(batch, change, out)| {
                    db.apply(batch)?;
                    if !change.is_empty() {
                        self.record(change);
                    }
                    Ok(out)
                })
            }
            Db::Postgres(pg) => pg.write_locked(keys, move |reads| {
                let (mut batch, change, out) = merge(reads)?;
                if !change.is_empty() {
                    batch.log = Some(Logged::Change(LoggedChange::of(change)).encode());
                }
                Ok((batch, out))
            }),
        };
        self.wrote(written)
    }
}

/// Merges one source poll into what `reads` finds stored: the batch that
/// writes it, the counts, and what it changed.
fn merge_poll(
    reads: &mut Reads<'_>,
    source: &str,
    incoming: Vec<(Entry, Vec<u8>)>,
    unchanged: Vec<Listed>,
    state: &mut FetchState,
    now: DateTime<Utc>,
    versions: Versions,
) -> Result<(Batch, Counts, Change), StoreError> {
    let mut counts = Counts {
        unchanged: unchanged.len() as u32,
        ..Counts::default()
    };
    let mut listed = unchanged;
    // Entries touched by this poll, with the index keys of their stored
    // version (to remove) — an overlay so that two entries of one poll
    // that are the same story meet each other — and, for a new one
    // nothing merged into, its encoded form.
    let mut touched: BTreeMap<String, Touched> = BTreeMap::new();
    let mut encoded: HashMap<String, Vec<u8>> = HashMap::new();
    let mut new_links: HashMap<String, String> = HashMap::new();

    for (entry, bytes) in incoming {
        let fingerprint = entry.sources.first().map(|s| s.fingerprint.clone()).unwrap_or_default();
        let Some(key) = same_story(reads, &entry, source, &touched)? else {
            if let Some(link) = entry.link.as_ref().filter(|_| !entry.generic_link) {
                new_links.entry(link.clone()).or_insert_with(|| entry.key.clone());
            }
            listed.push(Listed {
                key: entry.key.clone(),
                stored: entry.key.clone(),
                fingerprint,
            });
            counts.new += 1;
            encoded.insert(entry.key.clone(), bytes);
            touched.insert(
                entry.key.clone(),
                Touched {
                    entry,
                    old: None,
                    changed: true,
                },
            );
            continue;
        };
        encoded.remove(&key);
        listed.push(Listed {
            key: entry.key.clone(),
            stored: key.clone(),
            fingerprint,
        });
        if !touched.contains_key(&key) {
            let stored = reads.entry(&key)?.expect("same_story returns stored or touched keys");
            touched.insert(
                key.clone(),
                Touched {
                    old: Some(Arc::new(stored.clone())),
                    entry: stored,
                    changed: false,
                },
            );
        }
        let t = touched.get_mut(&key).expect("inserted above");
        if merge(&mut t.entry, entry, source, now, versions) {
            t.changed = true;
            counts.updated += 1;
        } else {
            counts.unchanged += 1;
        }
    }

    let mut batch = Batch::default();
    let mut change = Change::default();
    for (key, t) in touched.into_iter().filter(|(_, t)| t.changed) {
        if let Some(old) = t.old {
            batch.remove(time_key(&old));
            change.removed.push((IndexRow::of(&old), Some(old)));
        }
        let row = IndexRow::of(&t.entry);
        batch.insert(time_key(&t.entry), codec::encode_routing(&row.routing));
        let bytes = encoded.remove(&key).unwrap_or_else(|| codec::encode_entry(&t.entry));
        batch.insert(entry_key(&key), bytes);
        change.added.push((row, Arc::new(t.entry)));
    }
    for (link, key) in new_links {
        // An entry keyed by its link is found without this row.
        if key.strip_prefix("u:") != Some(link.as_str()) {
            batch.insert(link_key(&link), key.as_bytes());
        }
    }
    state.last_outcome = Some(counts.outcome());
    batch.insert(state_key(source), to_json(&*state));
    listed.sort_by(|a, b| a.key.cmp(&b.key));
    listed.dedup_by(|a, b| a.key == b.key);
    batch.insert(listed_key(source), codec::encode_listed(&listed));
    Ok((batch, counts, change))
}

impl Store {
    /// Makes every write that returned before this call durable: waits for
    /// the next flush of the store's one flusher thread (see [`GroupCommit`]).
    pub fn flush(&self) -> Result<(), StoreError> {
        if self.flusher.is_none() {
            // PostgreSQL: each write was committed when it returned.
            return Ok(());
        }
        let ticket = self.commits.request();
        self.wrote(self.commits.wait(ticket))
    }

    /// [`Store::flush`] without holding a thread: concurrent polls share
    /// one flush.
    pub async fn flush_async(&self) -> Result<(), StoreError> {
        if self.flusher.is_none() {
            return Ok(());
        }
        let ticket = self.commits.request();
        let mut done = self.commits.done.subscribe();
        // The sender lives as long as `self`: this only ends when served.
        let _ = done.wait_for(|served| *served >= ticket).await;
        self.wrote(self.commits.result_of(ticket))
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        match self.db()?.get(key)? {
            Some(v) => decode(key, &v).map(Some),
            None => Ok(None),
        }
    }
}

/// The entry this one is the same story as: one this poll already
/// touched, or a stored one with the same key or canonical link. A link
/// match is a relay from another source, unless this source already
/// gave that entry under another guid (two items that share a link, such
/// as a town hall linking every notice to its front page).
fn same_story(
    reads: &mut Reads,
    entry: &Entry,
    source: &str,
    touched: &BTreeMap<String, Touched>,
) -> Result<Option<String>, StoreError> {
    if touched.contains_key(&entry.key) {
        return Ok(Some(entry.key.clone()));
    }
    // A generic link (a home page) makes no two entries one story.
    let link = entry.link.as_deref().filter(|_| !entry.generic_link);
    let Some(found) = find(reads, &entry.key, link)? else {
        return Ok(None);
    };
    if found == entry.key {
        return Ok(Some(found));
    }
    let guid = entry.sources.first().and_then(|s| s.guid.as_ref());
    let stored = match touched.get(&found) {
        Some(t) => Some(t.entry.clone()),
        None => reads.entry(&found)?,
    };
    let conflict = stored.is_some_and(|e| e.sources.iter().any(|s| s.name == source && s.guid.as_ref() != guid));
    Ok((!conflict).then_some(found))
}

/// The key of the stored entry that is this story: the same key, or the
/// same canonical link.
fn find(reads: &mut Reads, key: &str, link: Option<&str>) -> Result<Option<String>, StoreError> {
    if reads.get(entry_key(key))?.is_some() {
        return Ok(Some(key.to_string()));
    }
    let Some(link) = link else { return Ok(None) };
    let by_link = format!("u:{link}");
    if by_link != key && reads.get(entry_key(&by_link))?.is_some() {
        return Ok(Some(by_link));
    }
    match reads.get(link_key(link))? {
        Some(k) => {
            let k = String::from_utf8_lossy(&k).into_owned();
            Ok(reads.get(entry_key(&k))?.is_some().then_some(k))
        }
        None => Ok(None),
    }
}

type Fetch<'a> = dyn FnMut(&[u8]) -> Result<Option<db::Value>, StoreError> + 'a;

/// What a write read, each key once: on PostgreSQL inside the write's
/// transaction, after its locks.
pub struct Reads<'a> {
    fetch: Box<Fetch<'a>>,
    seen: HashMap<Vec<u8>, Option<db::Value>>,
}

impl<'a> Reads<'a> {
    fn new(db: &'a Db) -> Reads<'a> {
        Reads::with(move |k| db.get(k))
    }

    pub(crate) fn with(fetch: impl FnMut(&[u8]) -> Result<Option<db::Value>, StoreError> + 'a) -> Reads<'a> {
        Reads {
            fetch: Box::new(fetch),
            seen: HashMap::new(),
        }
    }

    /// Records what a prefetch found of `key`.
    pub(crate) fn seed(&mut self, key: Vec<u8>, value: Option<db::Value>) {
        self.seen.insert(key, value);
    }

    fn get(&mut self, key: Vec<u8>) -> Result<Option<db::Value>, StoreError> {
        if let Some(v) = self.seen.get(&key) {
            return Ok(v.clone());
        }
        let v = (self.fetch)(&key)?;
        self.seen.insert(key, v.clone());
        Ok(v)
    }

    fn entry(&mut self, key: &str) -> Result<Option<Entry>, StoreError> {
        let k = entry_key(key);
        match self.get(k.clone())? {
            Some(v) => codec::decode_entry(&k, &v).map(Some),
            None => Ok(None),
        }
    }
}

fn open_sled(path: &Path, cache: u64) -> Result<sled::Db, StoreError> {
    wait_for_sled_release(path);
    Ok(sled::Config::new()
        .path(path)
        .mode(sled::Mode::HighThroughput)
        .cache_capacity(cache)
        .open()?)
}

/// sled lets go of its file lock only when the last of its threads drops its
/// handle, a moment after the `Db` itself: a store reopened in the same
/// process (after a failed write, or by a test) could find it still held.
/// Our own lock file already keeps every other store out, so waiting for
/// the previous handle is all that is left to do. (sled and std both lock
/// with `flock`, so a lock on our own descriptor of its file tells.)
fn wait_for_sled_release(path: &Path) {
    let Ok(file) = File::options().read(true).write(true).open(path.join("db")) else {
        return; // a new store
    };
    let deadline = std::time::Instant::now() + SLED_RELEASE_GRACE;
    while matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

const SLED_RELEASE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

impl Drop for Store {
    /// Lets the flusher serve the tickets left, for at most
    /// [`FLUSHER_GRACE`]: a flush that hangs (a disk gone bad) must not keep
    /// the process from ending.
    fn drop(&mut self) {
        // (PostgreSQL has no flusher: its pool closes with its last handle.)
        let Some(flusher) = self.flusher.take() else { return };
        self.commits.stop();
        if self.commits.wait_exit(FLUSHER_GRACE) {
            let _ = flusher.join();
            // Once dropped, the store's files are free to open again.
            drop(self.db.write().unwrap_or_else(|e| e.into_inner()).take());
            wait_for_sled_release(&self.path);
        }
    }
}

const FLUSHER_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Group commit: one thread flushes sled for everyone who waits. sled 0.34
/// deadlocks when flushes run concurrently (its issues #1308 and #1241: each
/// `flush_async` parks a worker of its small pool, waiting for log writes
/// queued behind them), so no two flushes ever run at once here. A waiter
/// takes a ticket after its writes; the flush that starts after the ticket
/// was issued covers them, and serves every ticket issued before it started.
#[derive(Default)]
struct GroupCommit {
    state: Mutex<CommitState>,
    /// Wakes the flusher when a ticket is issued, and blocking waiters when
    /// a flush ends.
    requested: Condvar,
    served: Condvar,
    /// The newest ticket served, for async waiters.
    done: tokio::sync::watch::Sender<u64>,
}

#[derive(Default)]
struct CommitState {
    /// The newest ticket issued.
    issued: u64,
    /// The newest ticket a finished flush covered.
    served: u64,
    /// The last failed flush: the tickets it covered (from, to] and why.
    failed: Option<(u64, u64, String)>,
    stopping: bool,
    exited: bool,
}

impl GroupCommit {
    fn request(&self) -> u64 {
        let mut state = lock(&self.state);
        state.issued += 1;
        self.requested.notify_one();
        state.issued
    }

    fn wait(&self, ticket: u64) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        while state.served < ticket {
            state = self.served.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        drop(state);
        self.result_of(ticket)
    }

    fn result_of(&self, ticket: u64) -> Result<(), StoreError> {
        match &lock(&self.state).failed {
            Some((from, to, why)) if (*from + 1..=*to).contains(&ticket) => Err(StoreError::Flush(why.clone())),
            _ => Ok(()),
        }
    }

    /// The flusher thread: flush whenever tickets are waiting, until stopped
    /// with none left.
    fn run(&self, db: &RwLock<Option<Db>>) {
        loop {
            let (from, target) = {
                let mut state = lock(&self.state);
                while state.issued == state.served && !state.stopping {
                    state = self.requested.wait(state).unwrap_or_else(|e| e.into_inner());
                }
                if state.issued == state.served {
                    state.exited = true;
                    self.served.notify_all();
                    return;
                }
                (state.served, state.issued)
            };
            let current = db.read().unwrap_or_else(|e| e.into_inner()).clone();
            let result = match current {
                Some(Db::Sled(db)) => db.flush().map(drop).map_err(|e| e.to_string()),
                // Each PostgreSQL write is committed when it returns.
                Some(Db::Postgres(_)) => Ok(()),
                None => Err("the store is being reopened".to_string()),
            };
            let mut state = lock(&self.state);
            if let Err(e) = result {
                state.failed = Some((from, target, e));
            }
            state.served = target;
            drop(state);
            self.served.notify_all();
            self.done.send_replace(target);
        }
    }

    fn stop(&self) {
        lock(&self.state).stopping = true;
        self.requested.notify_one();
    }

    /// Waits for the flusher to end, at most `grace`; whether it did.
    fn wait_exit(&self, grace: std::time::Duration) -> bool {
        let state = lock(&self.state);
        let (state, _) = self
            .served
            .wait_timeout_while(state, grace, |s| !s.exited)
            .unwrap_or_else(|e| e.into_inner());
        state.exited
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Which of a source's versions of an entry are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Versions {
    /// Whatever it says now (a poll).
    Latest,
    /// Not one older than the version stored (a push, which may be replayed).
    NotOlder,
}

/// An entry a poll touched: as it will be written, as it was stored (None
/// when new), and whether it changed.
struct Touched {
    entry: Entry,
    old: Option<Arc<Entry>>,
    changed: bool,
}

/// Folds `incoming` (one source's version of the story) into `existing`.
/// The origin source owns the text and the id; a relay adds itself and its
/// categories, never its text. The origin is the source with the strongest
/// claim to the story ([`rank`]): it publishes on the story's site, then
/// its own id is the story's URL (a permalink), then it gave the full
/// text, then (at equal claims) the first name in alphabetical order;
/// relays follow in the same order. So what is published, id and text
/// included, does not depend on which poll finished first, and a source
/// that names another site's story as its own (a push or a feed that
/// copies a victim's URL) cannot replace the publisher's text. A version
/// of a source older than the one stored (by the source's own date: a
/// replayed push) is ignored with [`Versions::NotOlder`]. Returns whether
/// anything changed.
fn merge(existing: &mut Entry, incoming: Entry, source: &str, now: DateTime<Utc>, versions: Versions) -> bool {
    let Some(sref) = incoming.sources.first().cloned() else {
        return false;
    };
    let pos = existing.sources.iter().position(|s| s.name == source);
    if let Some(p) = pos {
        let stored = &existing.sources[p];
        if stored.fingerprint == sref.fingerprint {
            return false;
        }
        if let (Versions::NotOlder, Some(was), Some(given)) = (versions, stored.updated, sref.updated)
            && given < was
        {
            return false;
        }
        existing.sources.remove(p);
    }
    let link = existing.link.clone().or_else(|| incoming.link.clone());
    let link = link.as_deref();
    let origin = existing
        .sources
        .first()
        .is_none_or(|o| rank(&sref, link) > rank(o, link));
    if origin {
        existing.sources.insert(0, sref);
        take_text(existing, incoming, now);
    } else {
        existing.sources.push(sref);
        existing.sources[1..].sort_by(|a, b| rank(b, link).cmp(&rank(a, link)));
        // (A source that was the origin and lost its claim keeps its text
        // until the new origin's next change. Rare: a permalink dropped.)
    }
    existing.categories = distinct_folded(existing.sources.iter().flat_map(|s| &s.categories).map(String::as_str));
    true
}

/// How strongly a source's version speaks for the story whose link is
/// `link`, highest first; a total order (names are unique).
fn rank<'s>(source: &'s SourceRef, link: Option<&str>) -> (bool, bool, bool, std::cmp::Reverse<&'s str>) {
    let publisher = match (source.feed_url.as_deref(), link) {
        (Some(feed), Some(link)) => crate::model::same_site(feed, link),
        _ => false,
    };
    let permalink = source
        .guid
        .as_deref()
        .and_then(|g| url::Url::parse(g).ok())
        .is_some_and(|u| matches!(u.scheme(), "http" | "https"));
    (
        publisher,
        permalink,
        source.full_text,
        std::cmp::Reverse(source.name.as_str()),
    )
}

/// The origin's new text replaces the stored one; `updated` moves with it,
/// to the source's own date when it gives a newer one, else to now.
fn take_text(existing: &mut Entry, incoming: Entry, now: DateTime<Utc>) {
    let text_changed = existing.title != incoming.title
        || existing.summary != incoming.summary
        || existing.content != incoming.content
        || existing.enclosures != incoming.enclosures;
    existing.id = incoming.id;
    existing.title = incoming.title;
    existing.summary = incoming.summary;
    existing.content = incoming.content;
    existing.link = incoming.link.or(existing.link.take());
    existing.authors = incoming.authors;
    existing.enclosures = incoming.enclosures;
    existing.language = incoming.language.or(existing.language.take());
    if incoming.dated {
        existing.published = incoming.published;
        existing.dated = true;
    }
    let mut updated = existing.updated.max(incoming.updated);
    if text_changed && updated <= existing.updated {
        updated = now;
    }
    existing.updated = updated.max(existing.published);
}

fn entry_key(key: &str) -> Vec<u8> {
    [b"e\0", key.as_bytes()].concat()
}

fn link_key(link: &str) -> Vec<u8> {
    [b"l\0", link.as_bytes()].concat()
}

fn listed_key(source: &str) -> Vec<u8> {
    [b"d\0", source.as_bytes()].concat()
}

fn state_key(source: &str) -> Vec<u8> {
    [b"f\0", source.as_bytes()].concat()
}

const TIME_PREFIX: &[u8] = b"t\0";
/// Just after every time key.
const TIME_END: &[u8] = b"t\x01";

/// Entries removed per batch: pruning a million entries holds a thousand
/// at a time in memory.
const REMOVE_BATCH: usize = 1000;

/// Sorts newest first under a byte-ordered scan.
fn newest_first(t: DateTime<Utc>) -> [u8; 8] {
    let ordered = (t.timestamp_millis() as u64) ^ (1 << 63);
    (!ordered).to_be_bytes()
}

fn from_newest_first(bytes: [u8; 8]) -> DateTime<Utc> {
    let millis = (!u64::from_be_bytes(bytes) ^ (1 << 63)) as i64;
    DateTime::from_timestamp_millis(millis).unwrap_or(DateTime::UNIX_EPOCH)
}

/// One row of the time index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IndexRow {
    pub key: String,
    pub published: DateTime<Utc>,
    pub routing: Routing,
}

fn time_key(entry: &Entry) -> Vec<u8> {
    [TIME_PREFIX, &newest_first(entry.sort_time()), entry.key.as_bytes()].concat()
}

/// A published document's content hash and when it last changed: its
/// `Last-Modified`, kept across restarts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PublishMark {
    pub hash: String,
    pub changed: DateTime<Utc>,
}

/// What deciding an entry's sections needs, kept in the time index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Routing {
    /// Sources that carried the entry.
    pub sources: Vec<String>,
    /// Its categories, folded ([`fold`]).
    pub categories: Vec<String>,
}

impl Routing {
    fn of(entry: &Entry) -> Routing {
        Routing {
            sources: entry.sources.iter().map(|s| s.name.clone()).collect(),
            categories: entry.categories.iter().map(|c| fold(c)).collect(),
        }
    }
}

fn index_row(kv: Result<(db::Value, db::Value), StoreError>) -> Result<IndexRow, StoreError> {
    let (k, v) = kv?;
    let at = TIME_PREFIX.len();
    let stamp: [u8; 8] = k[at..at + 8].try_into().expect("time keys hold 8 bytes of time");
    Ok(IndexRow {
        key: String::from_utf8_lossy(&k[at + 8..]).into_owned(),
        published: from_newest_first(stamp),
        routing: codec::decode_routing(&k, &v)?,
    })
}

fn archive_key(slug: &str, n: u32) -> Vec<u8> {
    [b"r\0", slug.as_bytes(), b"\0", &n.to_be_bytes()].concat()
}

fn digest_prefix(slug: &str) -> Vec<u8> {
    [b"g\0", slug.as_bytes(), b"\0"].concat()
}

fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("plain data serializes")
}

fn decode<T: serde::de::DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(value).map_err(|e| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        why: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceRef;

    fn entry(source: &str, key: &str, fingerprint: &str, categories: &[&str]) -> Entry {
        let t = DateTime::parse_from_rfc3339("2026-11-20T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Entry {
            key: key.into(),
            id: key.into(),
            link: Some(format!("https://ex.org/{key}")),
            title: format!("title {fingerprint}"),
            summary: None,
            content: Some(format!("<p>{fingerprint}</p>")),
            published: t,
            updated: t,
            first_seen: t,
            dated: true,
            generic_link: false,
            image: None,
            duration: None,
            authors: vec![],
            categories: categories.iter().map(|c| c.to_string()).collect(),
            enclosures: vec![],
            language: None,
            sources: vec![SourceRef {
                name: source.into(),
                guid: None,
                feed_title: None,
                feed_url: None,
                feed_updated: None,
                full_text: false,
                updated: None,
                categories: categories.iter().map(|c| c.to_string()).collect(),
                fingerprint: fingerprint.into(),
            }],
        }
    }

    #[test]
    fn a_relay_adds_its_source_and_categories_but_not_its_text() {
        let now = Utc::now();
        let mut stored = entry("journal", "k", "a", &["Sète"]);
        assert!(merge(
            &mut stored,
            entry("mairie", "k", "b", &["sete", "Culture"]),
            "mairie",
            now,
            Versions::Latest
        ));
        assert_eq!(stored.source_names().collect::<Vec<_>>(), ["journal", "mairie"]);
        assert_eq!(stored.categories, ["Sète", "Culture"]);
        assert_eq!(stored.title, "title a");
    }

    #[test]
    fn the_publisher_s_own_version_wins_whichever_arrives_first() {
        let now = Utc::now();
        let mut publisher = entry("mairie", "u:https://mairie.example/budget", "m", &["Agde"]);
        publisher.sources[0].guid = Some("https://mairie.example/budget".into());
        let paper = entry("journal", "g:journal\n42", "j", &["Société"]);

        let mut paper_first = paper.clone();
        assert!(merge(
            &mut paper_first,
            publisher.clone(),
            "mairie",
            now,
            Versions::Latest
        ));
        let mut publisher_first = publisher.clone();
        assert!(merge(
            &mut publisher_first,
            paper.clone(),
            "journal",
            now,
            Versions::Latest
        ));
        for stored in [&paper_first, &publisher_first] {
            assert_eq!(stored.title, "title m");
            assert_eq!(stored.source_names().collect::<Vec<_>>(), ["mairie", "journal"]);
        }
        assert_eq!(
            paper_first.id, publisher.id,
            "the id is the origin's, whichever came first"
        );
        assert_eq!(publisher_first.id, publisher.id);
    }

    #[test]
    fn the_origin_changing_its_text_moves_updated() {
        let now = DateTime::parse_from_rfc3339("2026-11-25T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut stored = entry("journal", "k", "a", &[]);
        let before = stored.updated;
        assert!(!merge(
            &mut stored,
            entry("journal", "k", "a", &[]),
            "journal",
            now,
            Versions::Latest
        ));
        assert!(merge(
            &mut stored,
            entry("journal", "k", "b", &[]),
            "journal",
            now,
            Versions::Latest
        ));
        assert_eq!(stored.title, "title b");
        assert_eq!(stored.updated, now);
        assert!(stored.updated > before);
    }

    #[test]
    fn index_sorts_newest_first_across_the_epoch() {
        let t = |s| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let a = newest_first(t("2026-01-01T00:00:00Z"));
        let b = newest_first(t("2025-01-01T00:00:00Z"));
        let c = newest_first(t("1960-01-01T00:00:00Z"));
        assert!(a < b && b < c);
        assert_eq!(from_newest_first(c), t("1960-01-01T00:00:00Z"));
    }
}
