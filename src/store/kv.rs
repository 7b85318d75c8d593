//! The vocabulary of the ordered byte map the store is written on, shared
//! by its two backends (`db`'s sled and `pg`'s PostgreSQL) and imported by
//! both, so that neither imports the other: values, batches of writes,
//! rows of a scan.

use std::collections::BTreeMap;

use super::StoreError;

/// A value (or key) read back: sled's cheap shared bytes on both backends.
pub type Value = sled::IVec;

/// Per key, a value to set or None to remove.
pub type Ops = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Writes applied together, all or none.
#[derive(Default)]
pub struct Batch {
    /// Per key, its last write: a later write of a key replaces an earlier
    /// one, as in a sled batch applied in order.
    ops: Ops,
    /// What it tells publishers (on PostgreSQL, a `thau_log` row written
    /// with it, and a notification): it changed entries, say.
    pub log: Option<Vec<u8>>,
}

impl Batch {
    pub fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.insert(key.into(), Some(value.into()));
    }

    pub fn remove(&mut self, key: impl Into<Vec<u8>>) {
        self.ops.insert(key.into(), None);
    }

    /// The writes: (key, Some(value)) to set, (key, None) to remove; and
    /// the log record.
    pub fn into_parts(self) -> (Ops, Option<Vec<u8>>) {
        (self.ops, self.log)
    }
}

pub type Rows = Box<dyn Iterator<Item = Result<(Value, Value), StoreError>> + Send>;
