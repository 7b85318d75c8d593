//! Per-source fetch state (`f\0`) and the publish marks of files (`p\0`).

use super::*;

pub(super) fn state_key(source: &str) -> Vec<u8> {
    [b"f\0", source.as_bytes()].concat()
}

impl Store {
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
}
