//! Sections' archive pages (`r\0`), written once.

use super::*;

pub(super) fn archive_key(slug: &str, n: u32) -> Vec<u8> {
    [b"r\0", slug.as_bytes(), b"\0", &n.to_be_bytes()].concat()
}

impl Store {
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
}
