//! WebSub subscriptions: to thau's feeds (`w\0`) and thau's own to its
//! sources' hubs (`W\0`).

use super::*;

impl Store {
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
}
