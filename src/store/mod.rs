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
//! | `e\0{entry key}`                | [`Entry`], binary, compressed ([`codec`]) |
//! | `l\0{canonical link}`           | entry key, when it is not `u:{link}`   |
//! | `f\0{source}`                   | [`FetchState`] as JSON                 |
//! | `t\0{published, newest first}{key}` | [`Routing`]: what sections need    |
//! | `p\0{path}`                     | [`PublishMark`] of a published file    |
//! | `d\0{source}`                   | what the source's last document listed ([`Listed`]: keys and fingerprints) |
//! | `g\0{slug}\0{period end}`        | a section's frozen digest (`digest::Digest` as JSON), written once |
//! | `r\0{slug}\0{page, u32}`          | a section's archive page ([`crate::model::ArchivePage`] as JSON), written once |
//! | `w\0{topic}\0{callback}`          | a verified WebSub subscription to one of our feeds (`websub::Subscription` as JSON) |
//! | `W\0{source}`                    | our subscription to a source's hub (`websub::subscriber::Push` as JSON) |
//! | `n\0{band, u8}{bucket, u64}`     | with `[dedupe]`: the keys of the newest stories whose signature falls in that band's bucket, `\0`-separated |
//!
//! The `t` index is what sections are rendered from: a scan newest-first
//! that decides membership from the small [`Routing`] value alone, without
//! reading entries that do not belong. One index key per entry keeps the
//! poll's batch small (sled's cost grows with the number of keys written).
//!
//! Files: `kv` is the byte map's vocabulary (values, batches, rows) the
//! backends share; `db` the map itself, sled or `pg/` (PostgreSQL: the
//! pool, the shared schedule's claims, the change log's notifications);
//! `codec` the value encodings. Above them, one file per kind of record,
//! each owning its key space: `entries` (merge, link index, section
//! index), `near` (near-duplicate buckets), `fetch_state`, `archive`, `digests`, `subscriptions`, `log`
//! (changes for publishers), and `commit` (group commit of polls'
//! batches). [`Store`] is the handle they hang from.
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use crate::model::{Entry, FetchState, Outcome, SourceRef, distinct_folded, fold};

mod archive;
mod codec;
mod commit;
mod db;
mod digests;
mod entries;
mod fetch_state;
mod kv;
mod log;
mod near;
mod pg;
mod subscriptions;

use commit::*;
pub use entries::Reads;
use entries::*;
use fetch_state::*;
use log::*;
pub use log::{LOG_KEEP, Taken};
use near::*;

pub use codec::Listed;
/// An entry's stored bytes, written and read (for `examples/store_bytes.rs`).
pub use codec::{decode_entry, encode_entry};
use db::Batch;
pub use db::Db;
pub use pg::{Duty, Pg};

/// Bumped whenever the layout above or the meaning of a record changes.
/// 2: compact records ([`codec`]); 3: entries in a binary form. Stores of
/// an earlier version are read as they are (each record says its form) and
/// marked with this one, so an older thau refuses them clearly.
pub const SCHEMA_VERSION: u32 = 3;

const READABLE_VERSIONS: [&[u8]; 3] = [b"1", b"2", b"3"];

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
    /// `[dedupe] similarity` as f64 bits; 0: near-duplicates are not looked for.
    near: std::sync::atomic::AtomicU64,
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
            near: std::sync::atomic::AtomicU64::new(0),
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
            near: std::sync::atomic::AtomicU64::new(0),
            _lock: Some(lock),
        })
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

    fn get_json<T: serde::de::DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        match self.db()?.get(key)? {
            Some(v) => decode(key, &v).map(Some),
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One row of the time index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IndexRow {
    pub key: String,
    pub published: DateTime<Utc>,
    pub routing: Routing,
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

    /// What one poll's batch writes, given what is stored.
    fn poll_batch(stored: &BTreeMap<Vec<u8>, Vec<u8>>, incoming: Vec<Entry>, unchanged: Vec<Listed>) -> kv::Ops {
        let mut reads = Reads::with(|k| Ok(stored.get(k).map(|v| db::Value::from(&v[..]))));
        let incoming = incoming
            .into_iter()
            .map(|e| (e.clone(), codec::encode_entry(&e)))
            .collect();
        let mut state = FetchState::default();
        let (batch, ..) = entries::merge_poll(
            &mut reads,
            "mairie",
            incoming,
            unchanged,
            &mut state,
            Utc::now(),
            Versions::Latest,
            None,
        )
        .unwrap();
        batch.into_parts().0
    }

    #[test]
    fn a_poll_that_changed_nothing_writes_only_the_fetch_state() {
        let first = poll_batch(&BTreeMap::new(), vec![entry("mairie", "k", "a", &["Sète"])], vec![]);
        let written: Vec<String> = first.keys().map(|k| String::from_utf8_lossy(k).into_owned()).collect();
        assert_eq!(written[..4], ["d\0mairie", "e\0k", "f\0mairie", "l\0https://ex.org/k"]);
        assert!(written.len() == 5 && written[4].starts_with("t\0"), "{written:?}");
        let stored: BTreeMap<_, _> = first.into_iter().map(|(k, v)| (k, v.unwrap())).collect();
        // The next poll finds the same story, unchanged.
        let listed = codec::decode_listed(b"d", &stored[&listed_key("mairie")]).unwrap();
        let second = poll_batch(&stored, vec![], listed);
        assert_eq!(second.keys().collect::<Vec<_>>(), [&state_key("mairie")]);
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
