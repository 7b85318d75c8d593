//! Sections' frozen digests (`g\0`), written once.

use super::*;

pub(super) fn digest_prefix(slug: &str) -> Vec<u8> {
    [b"g\0", slug.as_bytes(), b"\0"].concat()
}

impl Store {
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
}
