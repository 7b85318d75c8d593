//! The ordered byte map the store is written on: sled (embedded, one
//! process) or PostgreSQL (one `thau_kv` table several instances share).
//! Both order keys as bytes, so every prefix and range scan of the store
//! reads the same rows in the same order on either. Used by `store` only.

use std::sync::Arc;

use super::StoreError;
pub use super::kv::{Batch, Rows, Value};
use super::pg::Pg;

#[derive(Clone)]
pub enum Db {
    Sled(sled::Db),
    Postgres(Arc<Pg>),
}

impl Db {
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Value>, StoreError> {
        let key = key.as_ref();
        match self {
            Db::Sled(db) => Ok(db.get(key)?),
            Db::Postgres(pg) => pg.get(key),
        }
    }

    pub fn insert(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<(), StoreError> {
        let (key, value) = (key.as_ref(), value.as_ref());
        match self {
            Db::Sled(db) => db.insert(key, value).map(drop).map_err(StoreError::from),
            Db::Postgres(pg) => pg.insert(key, value),
        }
    }

    /// Writes `value` unless `key` is already set; returns what is stored
    /// now (so two instances writing a record meant to be written once
    /// both go on with the same one). `log` goes to publishers with the
    /// write, when it happens.
    pub fn insert_once(&self, key: &[u8], value: &[u8], log: Vec<u8>) -> Result<Value, StoreError> {
        match self {
            Db::Sled(db) => match db.compare_and_swap(key, None::<&[u8]>, Some(value))? {
                Ok(()) => Ok(Value::from(value)),
                Err(e) => Ok(e.current.unwrap_or_else(|| Value::from(value))),
            },
            Db::Postgres(pg) => pg.insert_once(key, value, log),
        }
    }

    /// Sets `key` to `new` if it still holds `old` (None: absent); false
    /// when someone else wrote it first.
    pub fn compare_and_swap(&self, key: &[u8], old: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError> {
        match self {
            Db::Sled(db) => Ok(db.compare_and_swap(key, old, Some(new))?.is_ok()),
            Db::Postgres(pg) => pg.compare_and_swap(key, old, new),
        }
    }

    pub fn remove(&self, key: impl AsRef<[u8]>) -> Result<(), StoreError> {
        let key = key.as_ref();
        match self {
            Db::Sled(db) => db.remove(key).map(drop).map_err(StoreError::from),
            Db::Postgres(pg) => pg.remove(key),
        }
    }

    /// Rows with `from <= key < to` (`to` None: to the end), in key order,
    /// or from the last when `rev`.
    pub fn range(&self, from: Vec<u8>, to: Option<Vec<u8>>, rev: bool) -> Rows {
        match self {
            Db::Sled(db) => {
                let rows = match to {
                    Some(to) => db.range(from..to),
                    None => db.range(from..),
                };
                let rows = rows.map(|kv| kv.map_err(StoreError::from));
                if rev { Box::new(rows.rev()) } else { Box::new(rows) }
            }
            Db::Postgres(pg) => Box::new(pg.clone().scan(from, to, rev)),
        }
    }

    /// Rows whose key starts with `prefix`.
    pub fn scan_prefix(&self, prefix: impl AsRef<[u8]>, rev: bool) -> Rows {
        let prefix = prefix.as_ref();
        self.range(prefix.to_vec(), successor(prefix), rev)
    }

    /// Makes what was written durable (PostgreSQL: each write already is).
    pub fn flush(&self) -> Result<(), StoreError> {
        match self {
            Db::Sled(db) => db.flush().map(drop).map_err(StoreError::from),
            Db::Postgres(_) => Ok(()),
        }
    }

    pub fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        match self {
            Db::Sled(db) => {
                let mut b = sled::Batch::default();
                for (k, v) in batch.into_parts().0 {
                    match v {
                        Some(v) => b.insert(k, v),
                        None => b.remove(k),
                    }
                }
                db.apply_batch(b).map_err(StoreError::from)
            }
            Db::Postgres(pg) => pg.apply(batch),
        }
    }
}

/// The smallest key after every key that starts with `prefix` (None when
/// there is none: the prefix is all 0xff).
pub fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut next = prefix.to_vec();
    while let Some(last) = next.pop() {
        if last < u8::MAX {
            next.push(last + 1);
            return Some(next);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_successor_of_a_prefix_bounds_its_keys() {
        assert_eq!(successor(b"t\0"), Some(b"t\x01".to_vec()));
        assert_eq!(successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(successor(b"\xff\xff"), None);
    }
}
