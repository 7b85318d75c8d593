//! The sled store: entries, the index sections are rendered from, and
//! per-source fetch state, all in one tree so that one [`sled::Batch`] per
//! source poll commits atomically. Depends on `model`.
//!
//! Keys (`\0` separates parts; names and folded categories never hold one):
//!
//! | key                                   | value                    |
//! |---------------------------------------|--------------------------|
//! | `meta\0schema`                        | schema version (decimal) |
//! | `e\0{entry key}`                      | [`Entry`] as JSON        |
//! | `l\0{canonical link}`                 | entry key                |
//! | `f\0{source}`                         | [`FetchState`] as JSON   |
//! | `i\0s\0{source}\0{newest first}{key}` | empty: entries by source |
//! | `i\0c\0{folded category}\0{…}{key}`   | empty: by category       |

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::model::{Entry, FetchState, Outcome, fold};

/// Bumped whenever the layout above or the meaning of a record changes.
pub const SCHEMA_VERSION: u32 = 1;
const SCHEMA_KEY: &[u8] = b"meta\0schema";
const LOCK_FILE: &str = "thau.lock";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {} is in use by another thau process", path.display())]
    InUse { path: PathBuf },
    #[error("cannot open store {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("store {} has schema version {found}, but this thau reads version {expected}", path.display())]
    Schema {
        path: PathBuf,
        found: String,
        expected: u32,
    },
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    #[error("store: corrupt record {key:?}: {source}")]
    Corrupt {
        key: String,
        source: serde_json::Error,
    },
}

/// What one poll did to the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
    db: sled::Db,
    path: PathBuf,
    /// Polls of different sources may touch the same entry (a relayed
    /// story): their read-merge-write sections take turns.
    write: Mutex<()>,
    _lock: File,
}

impl Store {
    /// Opens (or creates) the store at `path`. Only one process may hold it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
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
                return Err(StoreError::InUse {
                    path: path.to_owned(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(open_error(e)),
        }
        let db = sled::Config::new().path(path).open()?;
        match db.get(SCHEMA_KEY)? {
            Some(v) if v.as_ref() == SCHEMA_VERSION.to_string().as_bytes() => {}
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
        Ok(Store {
            db,
            path: path.to_owned(),
            write: Mutex::new(()),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn fetch_state(&self, source: &str) -> Result<Option<FetchState>, StoreError> {
        self.get_json(&state_key(source))
    }

    /// Records a poll that stored no entries (an error, a 304). Not flushed:
    /// losing it to a crash costs one extra fetch, never an entry.
    pub fn save_fetch_state(&self, source: &str, state: &FetchState) -> Result<(), StoreError> {
        self.db.insert(state_key(source), to_json(state))?;
        Ok(())
    }

    pub fn entry(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        self.get_json(&entry_key(key))
    }

    /// Every stored entry, in key order.
    pub fn entries(&self) -> impl Iterator<Item = Result<Entry, StoreError>> + '_ {
        self.db.scan_prefix(b"e\0").map(|kv| {
            let (k, v) = kv?;
            decode(&k, &v)
        })
    }

    /// Keys of the entries a source carried, newest first.
    pub fn keys_by_source(
        &self,
        source: &str,
    ) -> impl Iterator<Item = Result<String, StoreError>> + '_ {
        let prefix = index_prefix(b's', source);
        self.keys_under(prefix)
    }

    /// Keys of the entries in a (folded) category, newest first.
    pub fn keys_by_category(
        &self,
        category: &str,
    ) -> impl Iterator<Item = Result<String, StoreError>> + '_ {
        let prefix = index_prefix(b'c', &fold(category));
        self.keys_under(prefix)
    }

    fn keys_under(&self, prefix: Vec<u8>) -> impl Iterator<Item = Result<String, StoreError>> + '_ {
        let skip = prefix.len() + 8;
        self.db.scan_prefix(prefix).map(move |kv| {
            let (k, _) = kv?;
            Ok(String::from_utf8_lossy(&k[skip..]).into_owned())
        })
    }

    /// True when the source already delivered this entry with this fingerprint:
    /// the pipeline then skips sanitizing it.
    pub fn is_unchanged(
        &self,
        source: &str,
        key: &str,
        link: Option<&str>,
        fingerprint: &str,
    ) -> Result<bool, StoreError> {
        let existing = match self.entry(key)? {
            Some(e) => Some(e),
            None => match link {
                Some(link) => match self.db.get(link_key(link))? {
                    Some(k) => self.entry(&String::from_utf8_lossy(&k))?,
                    None => None,
                },
                None => None,
            },
        };
        Ok(existing.is_some_and(|e| {
            e.sources
                .iter()
                .any(|s| s.name == source && s.fingerprint == fingerprint)
        }))
    }

    /// Stores one source poll: merges `incoming` (each carrying this source as
    /// its only [`SourceRef`]) into what is stored, and records `state` with
    /// the poll's outcome, in one atomic batch, flushed before returning.
    /// `skipped` counts entries the caller already found unchanged.
    pub fn apply_poll(
        &self,
        source: &str,
        incoming: Vec<Entry>,
        skipped: u32,
        state: &mut FetchState,
        now: DateTime<Utc>,
    ) -> Result<Counts, StoreError> {
        let _turn = self
            .write
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut counts = Counts {
            unchanged: skipped,
            ..Counts::default()
        };
        // Entries touched by this poll, with the index keys of their stored
        // version (to remove) — an overlay so that two entries of one poll
        // that are the same story meet each other.
        let mut touched: BTreeMap<String, (Entry, Vec<Vec<u8>>)> = BTreeMap::new();
        let mut new_links: HashMap<String, String> = HashMap::new();

        for entry in incoming {
            let target = self.resolve(&entry, &touched, &new_links)?;
            match target {
                None => {
                    if let Some(link) = &entry.link {
                        new_links
                            .entry(link.clone())
                            .or_insert_with(|| entry.key.clone());
                    }
                    counts.new += 1;
                    touched.insert(entry.key.clone(), (entry, Vec::new()));
                }
                Some(key) => {
                    if !touched.contains_key(&key) {
                        let stored = self
                            .entry(&key)?
                            .expect("resolve only returns stored or touched keys");
                        let old_index = index_keys(&stored);
                        touched.insert(key.clone(), (stored, old_index));
                    }
                    let (existing, _) = touched.get_mut(&key).expect("inserted above");
                    if merge(existing, entry, source, now) {
                        counts.updated += 1;
                    } else {
                        counts.unchanged += 1;
                    }
                }
            }
        }

        let mut batch = sled::Batch::default();
        for (key, (entry, old_index)) in &touched {
            for k in old_index {
                batch.remove(k.as_slice());
            }
            for k in index_keys(entry) {
                batch.insert(k, &[][..]);
            }
            batch.insert(entry_key(key), to_json(entry));
        }
        for (link, key) in new_links {
            batch.insert(link_key(&link), key.as_bytes());
        }
        state.last_outcome = Some(counts.outcome());
        batch.insert(state_key(source), to_json(&*state));
        self.db.apply_batch(batch)?;
        self.db.flush()?;
        Ok(counts)
    }

    /// The stored entry this one is the same story as: same key, or same
    /// canonical link.
    fn resolve(
        &self,
        entry: &Entry,
        touched: &BTreeMap<String, (Entry, Vec<Vec<u8>>)>,
        new_links: &HashMap<String, String>,
    ) -> Result<Option<String>, StoreError> {
        if touched.contains_key(&entry.key) || self.db.contains_key(entry_key(&entry.key))? {
            return Ok(Some(entry.key.clone()));
        }
        let Some(link) = &entry.link else {
            return Ok(None);
        };
        if let Some(key) = new_links.get(link) {
            return Ok(Some(key.clone()));
        }
        match self.db.get(link_key(link))? {
            Some(key) => {
                let key = String::from_utf8_lossy(&key).into_owned();
                let exists = touched.contains_key(&key) || self.db.contains_key(entry_key(&key))?;
                Ok(exists.then_some(key))
            }
            None => Ok(None),
        }
    }

    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match self.db.get(key)? {
            Some(v) => decode(key, &v).map(Some),
            None => Ok(None),
        }
    }
}

/// Folds `incoming` (one source's version of the story) into `existing`.
/// The origin source (the first to deliver it) owns the text; a relay adds
/// itself and its categories. Returns whether anything changed.
fn merge(existing: &mut Entry, incoming: Entry, source: &str, now: DateTime<Utc>) -> bool {
    let Some(sref) = incoming.sources.into_iter().next() else {
        return false;
    };
    match existing.sources.iter().position(|s| s.name == source) {
        Some(pos) if existing.sources[pos].fingerprint == sref.fingerprint => return false,
        Some(pos) => {
            existing.sources[pos] = sref;
            if pos == 0 {
                let text_changed = existing.title != incoming.title
                    || existing.summary != incoming.summary
                    || existing.content != incoming.content
                    || existing.enclosures != incoming.enclosures;
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
                // The story moved on: its `updated` moves with it, to the
                // source's own date when it gives a newer one, else to now.
                let mut updated = existing.updated.max(incoming.updated);
                if text_changed && updated <= existing.updated {
                    updated = now;
                }
                existing.updated = updated.max(existing.published);
            }
        }
        None => {
            existing.sources.push(sref);
            if existing.content.is_none() && incoming.content.is_some() {
                existing.content = incoming.content;
            }
            if existing.summary.is_none() && incoming.summary.is_some() {
                existing.summary = incoming.summary;
            }
        }
    }
    let mut categories: Vec<String> = Vec::new();
    for c in existing.sources.iter().flat_map(|s| &s.categories) {
        if !categories.iter().any(|k| fold(k) == fold(c)) {
            categories.push(c.clone());
        }
    }
    existing.categories = categories;
    true
}

fn entry_key(key: &str) -> Vec<u8> {
    [b"e\0", key.as_bytes()].concat()
}

fn link_key(link: &str) -> Vec<u8> {
    [b"l\0", link.as_bytes()].concat()
}

fn state_key(source: &str) -> Vec<u8> {
    [b"f\0", source.as_bytes()].concat()
}

fn index_prefix(kind: u8, name: &str) -> Vec<u8> {
    [b"i\0", &[kind, 0], name.as_bytes(), b"\0"].concat()
}

/// Sorts newest first under a byte-ordered scan.
fn newest_first(t: DateTime<Utc>) -> [u8; 8] {
    let ordered = (t.timestamp_millis() as u64) ^ (1 << 63);
    (!ordered).to_be_bytes()
}

fn index_keys(entry: &Entry) -> Vec<Vec<u8>> {
    let when = newest_first(entry.published);
    let mut keys: Vec<Vec<u8>> = entry
        .sources
        .iter()
        .map(|s| index_prefix(b's', &s.name))
        .chain(
            entry
                .categories
                .iter()
                .map(|c| index_prefix(b'c', &fold(c))),
        )
        .map(|prefix| [prefix.as_slice(), &when, entry.key.as_bytes()].concat())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("plain data serializes")
}

fn decode<T: serde::de::DeserializeOwned>(key: &[u8], value: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(value).map_err(|source| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        source,
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
            authors: vec![],
            categories: categories.iter().map(|c| c.to_string()).collect(),
            enclosures: vec![],
            language: None,
            sources: vec![SourceRef {
                name: source.into(),
                guid: None,
                feed_title: None,
                feed_url: None,
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
            now
        ));
        assert_eq!(
            stored.source_names().collect::<Vec<_>>(),
            ["journal", "mairie"]
        );
        assert_eq!(stored.categories, ["Sète", "Culture"]);
        assert_eq!(stored.title, "title a");
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
            now
        ));
        assert!(merge(
            &mut stored,
            entry("journal", "k", "b", &[]),
            "journal",
            now
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
    }
}
