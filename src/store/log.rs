//! Changes handed to the publisher: in memory on sled, through the
//! `thau_log` table on PostgreSQL, read from one snapshot in commit order.

use super::*;

/// How long the log keeps a change for publishers (PostgreSQL).
pub const LOG_KEEP: std::time::Duration = std::time::Duration::from_secs(600);

/// What a write tells the publishers of every instance, on PostgreSQL: a
/// row of `thau_log`, written in the write's transaction.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(super) enum Logged {
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
    pub(super) fn encode(&self) -> Vec<u8> {
        codec::compressed_json(self)
    }
}

/// A [`Change`] as the log keeps it: the entries removed as they were, but
/// only the index rows of those added, whose text the store holds (writing
/// each new entry twice cost PostgreSQL a third of its poll rate).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(super) struct LoggedChange {
    removed: Vec<(IndexRow, Option<Arc<Entry>>)>,
    added: Vec<IndexRow>,
}

impl LoggedChange {
    pub(super) fn of(change: Change) -> LoggedChange {
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
pub(super) fn resolve(snapshot: &pg::Pg, logged: Vec<LoggedChange>) -> Result<Vec<Change>, StoreError> {
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

impl Store {
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

    pub(super) fn at_once<T>(
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

    pub(super) fn record(&self, change: Change) {
        if let Some(changes) = lock(&self.changes).as_mut() {
            changes.push(change);
        }
    }
}
