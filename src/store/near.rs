//! Near-duplicate band buckets (`n\0{band}{bucket}`): the stories whose
//! MinHash signature falls in each band's bucket ([`crate::near`]), kept
//! by the writes that store and prune stories, and the lookup that finds
//! the stored story a new one is a copy of.

use super::*;

/// What near-duplicate detection needs in a write: the similarity from
/// which two stories are one, and each incoming entry's signature (worked
/// out before the write lock is taken).
pub(super) struct Near {
    pub similarity: f64,
    pub signatures: Vec<Option<crate::near::Signature>>,
}

/// Stories one band bucket keeps (the newest): a bucket of very common
/// wording stays small.
const NEAR_BUCKET: usize = 32;
/// Candidates judged for one new story at most, the newest of each
/// bucket first: wording many stories share costs a bounded time.
const NEAR_CANDIDATES: usize = 24;
/// How far apart two stories' dates may be to be one story.
const NEAR_WINDOW: chrono::TimeDelta = chrono::TimeDelta::days(3);

/// `n\0{band}{bucket}`: the stories whose signature falls in `bucket`
/// in band `band`.
pub(super) fn near_key(band: usize, bucket: u64) -> Vec<u8> {
    let mut k = b"n\0".to_vec();
    k.push(band as u8);
    k.extend_from_slice(&bucket.to_be_bytes());
    k
}

/// The band buckets of a signature, as store keys.
pub(super) fn near_keys(signature: &crate::near::Signature) -> impl Iterator<Item = Vec<u8>> {
    crate::near::bands(signature)
        .into_iter()
        .enumerate()
        .map(|(b, h)| near_key(b, h))
}

/// The band lists a write changes, as they will be written, over what is
/// stored.
#[derive(Default)]
pub(super) struct Buckets(HashMap<Vec<u8>, Vec<String>>);

impl Buckets {
    /// `bucket`'s list as stored (or as this write left it).
    pub(super) fn peek(&self, reads: &mut Reads<'_>, bucket: &[u8]) -> Result<Vec<String>, StoreError> {
        if let Some(list) = self.0.get(bucket) {
            return Ok(list.clone());
        }
        Ok(match reads.get(bucket.to_vec())? {
            Some(v) if !v.is_empty() => String::from_utf8_lossy(&v).split('\0').map(str::to_owned).collect(),
            _ => Vec::new(),
        })
    }

    /// `bucket`'s list, to change: written with the batch.
    pub(super) fn list(&mut self, reads: &mut Reads<'_>, bucket: Vec<u8>) -> Result<&mut Vec<String>, StoreError> {
        if !self.0.contains_key(&bucket) {
            let stored = self.peek(reads, &bucket)?;
            self.0.insert(bucket.clone(), stored);
        }
        Ok(self.0.get_mut(&bucket).expect("inserted above"))
    }

    /// `key` added to `bucket`'s list, the oldest dropped past
    /// [`NEAR_BUCKET`].
    pub(super) fn add(&mut self, reads: &mut Reads<'_>, bucket: Vec<u8>, key: &str) -> Result<(), StoreError> {
        let list = self.list(reads, bucket)?;
        list.push(key.to_string());
        if list.len() > NEAR_BUCKET {
            list.remove(0);
        }
        Ok(())
    }

    /// The changed lists into `batch` (an empty one removed).
    pub(super) fn write(self, batch: &mut Batch) {
        for (bucket, list) in self.0 {
            match list.is_empty() {
                true => batch.remove(bucket),
                false => batch.insert(bucket, list.join("\0").into_bytes()),
            }
        }
    }
}

/// The stored story of another source that `entry` is a copy of: among
/// the stories that share a band bucket with it, dated within
/// [`NEAR_WINDOW`] of it, carried by no source this one is (two stories
/// of one source are never merged), the most similar at `similarity` or
/// more (the oldest key on a tie, so the answer does not depend on the
/// order of the buckets).
pub(super) fn near_story(
    reads: &mut Reads<'_>,
    entry: &Entry,
    signature: &crate::near::Signature,
    source: &str,
    similarity: f64,
    pending: &Buckets,
    touched: &BTreeMap<String, Touched>,
) -> Result<Option<String>, StoreError> {
    let mut lists = Vec::new();
    for bucket in near_keys(signature) {
        lists.push(pending.peek(reads, &bucket)?);
    }
    // Round robin over the buckets, newest first, each key once.
    let mut candidates: Vec<String> = Vec::new();
    let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
    'gather: for depth in 0..longest {
        for list in &lists {
            if let Some(key) = list.len().checked_sub(depth + 1).map(|at| &list[at])
                && !candidates.contains(key)
            {
                candidates.push(key.clone());
                if candidates.len() == NEAR_CANDIDATES {
                    break 'gather;
                }
            }
        }
    }
    // (The oldest key wins a tie: the answer does not depend on the
    // order the buckets were read in.)
    candidates.sort();
    let mut best: Option<(f64, String)> = None;
    for key in candidates {
        if key == entry.key {
            continue;
        }
        // (As this poll left it: a story it merged a copy into is this source's now.)
        let stored = match touched.get(&key) {
            Some(t) => Some(t.entry.clone()),
            None => reads.entry(&key)?,
        };
        let Some(stored) = stored else { continue };
        if stored.sources.iter().any(|s| s.name == source) || (stored.published - entry.published).abs() > NEAR_WINDOW {
            continue;
        }
        let Some(theirs) = crate::near::signature(&stored) else {
            continue;
        };
        let s = crate::near::similarity(signature, &theirs);
        if s >= similarity && best.as_ref().is_none_or(|(b, _)| s > *b) {
            best = Some((s, key));
        }
    }
    Ok(best.map(|(_, key)| key))
}
