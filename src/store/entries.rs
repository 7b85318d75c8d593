//! Entries (`e\0`), their link rows (`l\0`), the time index (`t\0`) and what
//! each source last listed (`d\0`): a poll merged into what is stored, one
//! story once, in one atomic batch; reads and scans of the index.

use super::*;

/// Merges one source poll into what `reads` finds stored: the batch that
/// writes it, the counts, and what it changed.
#[allow(clippy::too_many_arguments)]
pub(super) fn merge_poll(
    reads: &mut Reads<'_>,
    source: &str,
    incoming: Vec<(Entry, Vec<u8>)>,
    unchanged: Vec<Listed>,
    state: &mut FetchState,
    now: DateTime<Utc>,
    versions: Versions,
    near: Option<Near>,
) -> Result<(Batch, Counts, Change), StoreError> {
    let (similarity, mut signatures) = match near {
        Some(n) => (Some(n.similarity), n.signatures),
        None => (None, Vec::new()),
    };
    // The band lists this poll adds to, as they will be written.
    let mut buckets = Buckets::default();
    let mut counts = Counts {
        unchanged: unchanged.len() as u32,
        ..Counts::default()
    };
    let mut listed = unchanged;
    // Entries touched by this poll, with the index keys of their stored
    // version (to remove) — an overlay so that two entries of one poll
    // that are the same story meet each other — and, for a new one
    // nothing merged into, its encoded form.
    let mut touched: BTreeMap<String, Touched> = BTreeMap::new();
    let mut encoded: HashMap<String, Vec<u8>> = HashMap::new();
    let mut new_links: HashMap<String, String> = HashMap::new();

    for (i, (entry, bytes)) in incoming.into_iter().enumerate() {
        let fingerprint = entry.sources.first().map(|s| s.fingerprint.clone()).unwrap_or_default();
        let signature = signatures.get_mut(i).and_then(Option::take);
        let mut found = same_story(reads, &entry, source, &touched)?;
        if found.is_none()
            && let (Some(similarity), Some(signature)) = (similarity, &signature)
        {
            found = near_story(reads, &entry, signature, source, similarity, &buckets, &touched)?;
            // Its link leads to the story it was merged into: the source's
            // next version of it is found by link.
            if let (Some(key), Some(link)) = (&found, entry.link.as_ref().filter(|_| !entry.generic_link)) {
                new_links.entry(link.clone()).or_insert_with(|| key.clone());
            }
        }
        let Some(key) = found else {
            if let Some(signature) = &signature {
                for bucket in near_keys(signature) {
                    buckets.add(reads, bucket, &entry.key)?;
                }
            }
            if let Some(link) = entry.link.as_ref().filter(|_| !entry.generic_link) {
                new_links.entry(link.clone()).or_insert_with(|| entry.key.clone());
            }
            listed.push(Listed {
                key: entry.key.clone(),
                stored: entry.key.clone(),
                fingerprint,
            });
            counts.new += 1;
            encoded.insert(entry.key.clone(), bytes);
            touched.insert(
                entry.key.clone(),
                Touched {
                    entry,
                    old: None,
                    changed: true,
                },
            );
            continue;
        };
        encoded.remove(&key);
        listed.push(Listed {
            key: entry.key.clone(),
            stored: key.clone(),
            fingerprint,
        });
        if !touched.contains_key(&key) {
            let stored = reads.entry(&key)?.expect("same_story returns stored or touched keys");
            touched.insert(
                key.clone(),
                Touched {
                    old: Some(Arc::new(stored.clone())),
                    entry: stored,
                    changed: false,
                },
            );
        }
        let t = touched.get_mut(&key).expect("inserted above");
        if merge(&mut t.entry, entry, source, now, versions) {
            t.changed = true;
            counts.updated += 1;
        } else {
            counts.unchanged += 1;
        }
    }

    let mut batch = Batch::default();
    let mut change = Change::default();
    for (key, t) in touched.into_iter().filter(|(_, t)| t.changed) {
        if let Some(old) = t.old {
            batch.remove(time_key(&old));
            change.removed.push((IndexRow::of(&old), Some(old)));
        }
        let row = IndexRow::of(&t.entry);
        batch.insert(time_key(&t.entry), codec::encode_routing(&row.routing));
        let bytes = encoded.remove(&key).unwrap_or_else(|| codec::encode_entry(&t.entry));
        batch.insert(entry_key(&key), bytes);
        change.added.push((row, Arc::new(t.entry)));
    }
    buckets.write(&mut batch);
    for (link, key) in new_links {
        // An entry keyed by its link is found without this row.
        if key.strip_prefix("u:") != Some(link.as_str()) {
            batch.insert(link_key(&link), key.as_bytes());
        }
    }
    state.last_outcome = Some(counts.outcome());
    batch.insert(state_key(source), to_json(&*state));
    listed.sort_by(|a, b| a.key.cmp(&b.key));
    listed.dedup_by(|a, b| a.key == b.key);
    // A poll that found the listing as it was (an unchanged document, the
    // same stories) does not write it again.
    let listing = codec::encode_listed(&listed);
    if reads.get(listed_key(source))?.as_deref() != Some(&listing[..]) {
        batch.insert(listed_key(source), listing);
    }
    Ok((batch, counts, change))
}

/// The entry this one is the same story as: one this poll already
/// touched, or a stored one with the same key or canonical link. A link
/// match is a relay from another source, unless this source already
/// gave that entry under another guid (two items that share a link, such
/// as a town hall linking every notice to its front page).
pub(super) fn same_story(
    reads: &mut Reads,
    entry: &Entry,
    source: &str,
    touched: &BTreeMap<String, Touched>,
) -> Result<Option<String>, StoreError> {
    if touched.contains_key(&entry.key) {
        return Ok(Some(entry.key.clone()));
    }
    // A generic link (a home page) makes no two entries one story.
    let link = entry.link.as_deref().filter(|_| !entry.generic_link);
    let Some(found) = find(reads, &entry.key, link)? else {
        return Ok(None);
    };
    if found == entry.key {
        return Ok(Some(found));
    }
    let guid = entry.sources.first().and_then(|s| s.guid.as_ref());
    let stored = match touched.get(&found) {
        Some(t) => Some(t.entry.clone()),
        None => reads.entry(&found)?,
    };
    let conflict = stored.is_some_and(|e| e.sources.iter().any(|s| s.name == source && s.guid.as_ref() != guid));
    Ok((!conflict).then_some(found))
}

/// The key of the stored entry that is this story: the same key, or the
/// same canonical link.
pub(super) fn find(reads: &mut Reads, key: &str, link: Option<&str>) -> Result<Option<String>, StoreError> {
    if reads.get(entry_key(key))?.is_some() {
        return Ok(Some(key.to_string()));
    }
    let Some(link) = link else { return Ok(None) };
    let by_link = format!("u:{link}");
    if by_link != key && reads.get(entry_key(&by_link))?.is_some() {
        return Ok(Some(by_link));
    }
    match reads.get(link_key(link))? {
        Some(k) => {
            let k = String::from_utf8_lossy(&k).into_owned();
            Ok(reads.get(entry_key(&k))?.is_some().then_some(k))
        }
        None => Ok(None),
    }
}

pub(super) type Fetch<'a> = dyn FnMut(&[u8]) -> Result<Option<db::Value>, StoreError> + 'a;

/// What a write read, each key once: on PostgreSQL inside the write's
/// transaction, after its locks.
pub struct Reads<'a> {
    fetch: Box<Fetch<'a>>,
    seen: HashMap<Vec<u8>, Option<db::Value>>,
}

impl<'a> Reads<'a> {
    pub(super) fn new(db: &'a Db) -> Reads<'a> {
        Reads::with(move |k| db.get(k))
    }

    pub(crate) fn with(fetch: impl FnMut(&[u8]) -> Result<Option<db::Value>, StoreError> + 'a) -> Reads<'a> {
        Reads {
            fetch: Box::new(fetch),
            seen: HashMap::new(),
        }
    }

    /// Records what a prefetch found of `key`.
    pub(crate) fn seed(&mut self, key: Vec<u8>, value: Option<db::Value>) {
        self.seen.insert(key, value);
    }

    pub(super) fn get(&mut self, key: Vec<u8>) -> Result<Option<db::Value>, StoreError> {
        if let Some(v) = self.seen.get(&key) {
            return Ok(v.clone());
        }
        let v = (self.fetch)(&key)?;
        self.seen.insert(key, v.clone());
        Ok(v)
    }

    pub(super) fn entry(&mut self, key: &str) -> Result<Option<Entry>, StoreError> {
        let k = entry_key(key);
        match self.get(k.clone())? {
            Some(v) => codec::decode_entry(&k, &v).map(Some),
            None => Ok(None),
        }
    }
}

/// Which of a source's versions of an entry are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Versions {
    /// Whatever it says now (a poll).
    Latest,
    /// Not one older than the version stored (a push, which may be replayed).
    NotOlder,
}

/// An entry a poll touched: as it will be written, as it was stored (None
/// when new), and whether it changed.
pub(super) struct Touched {
    pub(super) entry: Entry,
    old: Option<Arc<Entry>>,
    changed: bool,
}

/// Folds `incoming` (one source's version of the story) into `existing`.
/// The origin source owns the text and the id; a relay adds itself and its
/// categories, never its text. The origin is the source with the strongest
/// claim to the story ([`rank`]): it publishes on the story's site, then
/// its own id is the story's URL (a permalink), then it gave the full
/// text, then (at equal claims) the first name in alphabetical order;
/// relays follow in the same order. So what is published, id and text
/// included, does not depend on which poll finished first, and a source
/// that names another site's story as its own (a push or a feed that
/// copies a victim's URL) cannot replace the publisher's text. A version
/// of a source older than the one stored (by the source's own date: a
/// replayed push) is ignored with [`Versions::NotOlder`]. Returns whether
/// anything changed.
pub(super) fn merge(
    existing: &mut Entry,
    incoming: Entry,
    source: &str,
    now: DateTime<Utc>,
    versions: Versions,
) -> bool {
    let Some(sref) = incoming.sources.first().cloned() else {
        return false;
    };
    let pos = existing.sources.iter().position(|s| s.name == source);
    if let Some(p) = pos {
        let stored = &existing.sources[p];
        if stored.fingerprint == sref.fingerprint {
            return false;
        }
        if let (Versions::NotOlder, Some(was), Some(given)) = (versions, stored.updated, sref.updated)
            && given < was
        {
            return false;
        }
        existing.sources.remove(p);
    }
    let link = existing.link.clone().or_else(|| incoming.link.clone());
    let link = link.as_deref();
    let origin = existing
        .sources
        .first()
        .is_none_or(|o| rank(&sref, link) > rank(o, link));
    if origin {
        existing.sources.insert(0, sref);
        take_text(existing, incoming, now);
    } else {
        existing.sources.push(sref);
        existing.sources[1..].sort_by(|a, b| rank(b, link).cmp(&rank(a, link)));
        // (A source that was the origin and lost its claim keeps its text
        // until the new origin's next change. Rare: a permalink dropped.)
    }
    existing.categories = distinct_folded(existing.sources.iter().flat_map(|s| &s.categories).map(String::as_str));
    true
}

/// How strongly a source's version speaks for the story whose link is
/// `link`, highest first; a total order (names are unique).
pub(super) fn rank<'s>(source: &'s SourceRef, link: Option<&str>) -> (bool, bool, bool, std::cmp::Reverse<&'s str>) {
    let publisher = match (source.feed_url.as_deref(), link) {
        (Some(feed), Some(link)) => crate::model::same_site(feed, link),
        _ => false,
    };
    let permalink = source
        .guid
        .as_deref()
        .and_then(|g| url::Url::parse(g).ok())
        .is_some_and(|u| matches!(u.scheme(), "http" | "https"));
    (
        publisher,
        permalink,
        source.full_text,
        std::cmp::Reverse(source.name.as_str()),
    )
}

/// The origin's new text replaces the stored one; `updated` moves with it,
/// to the source's own date when it gives a newer one, else to now.
pub(super) fn take_text(existing: &mut Entry, incoming: Entry, now: DateTime<Utc>) {
    let text_changed = existing.title != incoming.title
        || existing.summary != incoming.summary
        || existing.content != incoming.content
        || existing.enclosures != incoming.enclosures;
    existing.id = incoming.id;
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
    let mut updated = existing.updated.max(incoming.updated);
    if text_changed && updated <= existing.updated {
        updated = now;
    }
    existing.updated = updated.max(existing.published);
}

pub(super) fn entry_key(key: &str) -> Vec<u8> {
    [b"e\0", key.as_bytes()].concat()
}

pub(super) fn link_key(link: &str) -> Vec<u8> {
    [b"l\0", link.as_bytes()].concat()
}

pub(super) fn listed_key(source: &str) -> Vec<u8> {
    [b"d\0", source.as_bytes()].concat()
}

pub(super) const TIME_PREFIX: &[u8] = b"t\0";

/// Just after every time key.
pub(super) const TIME_END: &[u8] = b"t\x01";

/// Entries removed per batch: pruning a million entries holds a thousand
/// at a time in memory.
pub(super) const REMOVE_BATCH: usize = 1000;

/// Sorts newest first under a byte-ordered scan.
pub(super) fn newest_first(t: DateTime<Utc>) -> [u8; 8] {
    let ordered = (t.timestamp_millis() as u64) ^ (1 << 63);
    (!ordered).to_be_bytes()
}

pub(super) fn from_newest_first(bytes: [u8; 8]) -> DateTime<Utc> {
    let millis = (!u64::from_be_bytes(bytes) ^ (1 << 63)) as i64;
    DateTime::from_timestamp_millis(millis).unwrap_or(DateTime::UNIX_EPOCH)
}

pub(super) fn time_key(entry: &Entry) -> Vec<u8> {
    [TIME_PREFIX, &newest_first(entry.sort_time()), entry.key.as_bytes()].concat()
}

pub(super) fn index_row(kv: Result<(db::Value, db::Value), StoreError>) -> Result<IndexRow, StoreError> {
    let (k, v) = kv?;
    let at = TIME_PREFIX.len();
    let stamp: [u8; 8] = k[at..at + 8].try_into().expect("time keys hold 8 bytes of time");
    Ok(IndexRow {
        key: String::from_utf8_lossy(&k[at + 8..]).into_owned(),
        published: from_newest_first(stamp),
        routing: codec::decode_routing(&k, &v)?,
    })
}

impl Store {
    /// Looks for near-duplicates of new stories among other sources'
    /// (`[dedupe] similarity`), or not (None).
    pub fn set_near_duplicates(&self, similarity: Option<f64>) {
        let bits = similarity.filter(|s| *s > 0.0).map_or(0, f64::to_bits);
        self.near.store(bits, std::sync::atomic::Ordering::Relaxed);
    }

    fn near_duplicates(&self) -> Option<f64> {
        let bits = self.near.load(std::sync::atomic::Ordering::Relaxed);
        (bits != 0).then(|| f64::from_bits(bits))
    }

    /// The key of the stored story whose canonical link is `link`.
    pub fn key_of_link(&self, link: &str) -> Result<Option<String>, StoreError> {
        let db = self.db()?;
        let by_link = format!("u:{link}");
        if db.get(entry_key(&by_link))?.is_some() {
            return Ok(Some(by_link));
        }
        Ok(db
            .get(link_key(link))?
            .map(|k| String::from_utf8_lossy(&k).into_owned()))
    }

    pub fn entry(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        let key = entry_key(key);
        match self.db()?.get(&key)? {
            Some(v) => codec::decode_entry(&key, &v).map(Some),
            None => Ok(None),
        }
    }

    /// Every stored entry, in key order.
    pub fn entries(&self) -> Box<dyn Iterator<Item = Result<Entry, StoreError>> + Send> {
        match self.db() {
            Ok(db) => Box::new(db.scan_prefix(b"e\0", false).map(|kv| {
                let (k, v) = kv?;
                codec::decode_entry(&k, &v)
            })),
            Err(e) => Box::new(std::iter::once(Err(e))),
        }
    }

    /// Every entry's key and routing facts, newest (by `published`) first.
    pub fn recent(&self) -> Box<dyn Iterator<Item = Result<IndexRow, StoreError>> + Send> {
        self.index_rows(TIME_PREFIX.to_vec())
    }

    /// As [`Store::recent`], from just after the row of (`published`, `key`).
    pub fn recent_after(
        &self,
        published: DateTime<Utc>,
        key: &str,
    ) -> Box<dyn Iterator<Item = Result<IndexRow, StoreError>> + Send> {
        let mut from = [TIME_PREFIX, &newest_first(published), key.as_bytes()].concat();
        // The smallest key after this one.
        from.push(0);
        self.index_rows(from)
    }

    /// The time index oldest first, from just after the row of
    /// (`published`, `key`) when given (newer rows only), else from the
    /// oldest row.
    pub fn oldest_first_after(
        &self,
        after: Option<(DateTime<Utc>, &str)>,
    ) -> Box<dyn Iterator<Item = Result<IndexRow, StoreError>> + Send> {
        let db = match self.db() {
            Ok(db) => db,
            Err(e) => return Box::new(std::iter::once(Err(e))),
        };
        let upper = match after {
            Some((published, key)) => [TIME_PREFIX, &newest_first(published), key.as_bytes()].concat(),
            None => TIME_END.to_vec(),
        };
        Box::new(db.range(TIME_PREFIX.to_vec(), Some(upper), true).map(index_row))
    }

    pub(super) fn index_rows(&self, from: Vec<u8>) -> Box<dyn Iterator<Item = Result<IndexRow, StoreError>> + Send> {
        let db = match self.db() {
            Ok(db) => db,
            Err(e) => return Box::new(std::iter::once(Err(e))),
        };
        Box::new(db.range(from, Some(TIME_END.to_vec()), false).map(index_row))
    }

    /// Sets the full text of a stored entry (what `full_text` extracted),
    /// marking `source`'s version as full; false when the entry is gone.
    pub fn set_full_text(&self, key: &str, source: &str, html: String) -> Result<bool, StoreError> {
        let (key, source) = (key.to_string(), source.to_string());
        self.write_with(vec![entry_key(&key)], move |reads| {
            let mut batch = Batch::default();
            let Some(old) = reads.entry(&key)? else {
                return Ok((batch, Change::default(), false));
            };
            let mut new = old.clone();
            new.content = Some(html);
            if let Some(s) = new.sources.iter_mut().find(|s| s.name == source) {
                s.full_text = true;
            }
            batch.remove(time_key(&old));
            let row = IndexRow::of(&new);
            batch.insert(time_key(&new), codec::encode_routing(&row.routing));
            batch.insert(entry_key(&key), codec::encode_entry(&new));
            let change = Change {
                removed: vec![(IndexRow::of(&old), Some(Arc::new(old)))],
                added: vec![(row, Arc::new(new))],
            };
            Ok((batch, change, true))
        })
    }

    /// Keys of every entry that a source listed in its last document: those
    /// are never pruned.
    pub fn listed_keys(&self) -> Result<HashSet<String>, StoreError> {
        let mut keys = HashSet::new();
        for kv in self.db()?.scan_prefix(b"d\0", false) {
            let (k, v) = kv?;
            keys.extend(codec::decode_listed(&k, &v)?.into_iter().map(|l| l.stored));
        }
        Ok(keys)
    }

    /// What `source`'s last document listed (none before its first poll).
    pub fn listed(&self, source: &str) -> Result<Vec<Listed>, StoreError> {
        let key = listed_key(source);
        match self.db()?.get(&key)? {
            Some(v) => codec::decode_listed(&key, &v),
            None => Ok(Vec::new()),
        }
    }

    /// Removes entries (their record, index row and link row), in batches
    /// of at most [`REMOVE_BATCH`] entries (each atomic), then flushes.
    pub fn remove_entries(&self, keys: &[String]) -> Result<usize, StoreError> {
        let mut seen = HashSet::new();
        let keys: Vec<&String> = keys.iter().filter(|k| seen.insert(*k)).collect();
        let mut removed = 0;
        for chunk in keys.chunks(REMOVE_BATCH) {
            let chunk: Vec<String> = chunk.iter().map(|k| k.to_string()).collect();
            let entry_keys: Vec<Vec<u8>> = chunk.iter().map(|k| entry_key(k)).collect();
            let near = self.near_duplicates().is_some();
            removed += self.write_with(entry_keys, move |reads| {
                let mut batch = Batch::default();
                let mut change = Change::default();
                let mut buckets = Buckets::default();
                for key in &chunk {
                    let Some(entry) = reads.entry(key)? else { continue };
                    batch.remove(entry_key(key));
                    batch.remove(time_key(&entry));
                    // Out of its near-duplicate buckets.
                    if let Some(signature) = crate::near::signature(&entry).filter(|_| near) {
                        for bucket in near_keys(&signature) {
                            buckets.list(reads, bucket)?.retain(|k| k != key);
                        }
                    }
                    if let Some(link) = &entry.link
                        && reads.get(link_key(link))?.is_some_and(|k| k.as_ref() == key.as_bytes())
                    {
                        batch.remove(link_key(link));
                    }
                    change.removed.push((IndexRow::of(&entry), Some(Arc::new(entry))));
                }
                buckets.write(&mut batch);
                let removed = change.removed.len();
                Ok((batch, change, removed))
            })?;
        }
        self.flush()?;
        Ok(removed)
    }

    /// The stored key when the source already delivered this entry with
    /// this fingerprint: the pipeline then skips sanitizing it.
    pub fn unchanged(
        &self,
        source: &str,
        key: &str,
        link: Option<&str>,
        fingerprint: &str,
    ) -> Result<Option<String>, StoreError> {
        let db = self.db()?;
        let mut reads = Reads::new(&db);
        let Some(found) = find(&mut reads, key, link)? else {
            return Ok(None);
        };
        let same = reads.entry(&found)?.is_some_and(|e| {
            e.sources
                .iter()
                .any(|s| s.name == source && s.fingerprint == fingerprint)
        });
        Ok(same.then_some(found))
    }

    /// Stores one source poll: merges `incoming` (each carrying this source as
    /// its only [`SourceRef`]) into what is stored, and records `state` with
    /// the poll's outcome, in one atomic batch. Durable once [`Store::flush`]
    /// (or [`Store::flush_async`]) returns.
    /// `unchanged` lists the entries the caller already found unchanged;
    /// with `incoming` they are what the source's document lists.
    pub fn apply_poll(
        &self,
        source: &str,
        incoming: Vec<Entry>,
        unchanged: Vec<Listed>,
        state: &mut FetchState,
        now: DateTime<Utc>,
    ) -> Result<Counts, StoreError> {
        self.apply(source, incoming, unchanged, state, now, Versions::Latest)
    }

    /// Stores what a WebSub hub pushed, as [`Store::apply_poll`] does, but
    /// an entry older than the source's version stored (by the source's
    /// own date) is ignored: a push replayed later reverts nothing. (A
    /// poll reads what the origin serves now, which may re-date entries.)
    pub fn apply_push(
        &self,
        source: &str,
        incoming: Vec<Entry>,
        unchanged: Vec<Listed>,
        state: &mut FetchState,
        now: DateTime<Utc>,
    ) -> Result<Counts, StoreError> {
        self.apply(source, incoming, unchanged, state, now, Versions::NotOlder)
    }

    pub(super) fn apply(
        &self,
        source: &str,
        incoming: Vec<Entry>,
        unchanged: Vec<Listed>,
        state: &mut FetchState,
        now: DateTime<Utc>,
        versions: Versions,
    ) -> Result<Counts, StoreError> {
        // Encoding (binary, compressed) is the costly part of writing an entry: done
        // before taking the write lock, so polls do it in parallel; used as
        // is for every entry that is new (re-encoded only when merged).
        let incoming: Vec<(Entry, Vec<u8>)> = incoming
            .into_iter()
            .map(|e| {
                let bytes = codec::encode_entry(&e);
                (e, bytes)
            })
            .collect();
        // What decides which stored story each entry is: held by this
        // write against writers on other instances, and read in one go.
        // (And the source's listing, compared before it is written again.)
        let mut keys = Vec::with_capacity(incoming.len() * 3 + 1);
        keys.push(listed_key(source));
        for (e, _) in &incoming {
            keys.push(entry_key(&e.key));
            if let Some(link) = &e.link {
                keys.push(entry_key(&format!("u:{link}")));
                keys.push(link_key(link));
            }
        }
        // Near-duplicates: signatures worked out before the lock, and their
        // buckets held by the write as the stories' identity is.
        let near = self.near_duplicates().map(|similarity| Near {
            similarity,
            signatures: incoming.iter().map(|(e, _)| crate::near::signature(e)).collect(),
        });
        if let Some(near) = &near {
            for signature in near.signatures.iter().flatten() {
                keys.extend(near_keys(signature));
            }
        }
        let (source_name, mut written_state) = (source.to_string(), state.clone());
        let (counts, written_state) = self.write_with(keys, move |reads| {
            let (batch, counts, change) = merge_poll(
                reads,
                &source_name,
                incoming,
                unchanged,
                &mut written_state,
                now,
                versions,
                near,
            )?;
            Ok((batch, change, (counts, written_state)))
        })?;
        *state = written_state;
        Ok(counts)
    }

    /// Runs `merge` (which reads what it needs and says what to write and
    /// what that changes) and writes its batch, atomically, while this
    /// process's other writers wait; the change goes to the publisher. On
    /// PostgreSQL it all happens in one transaction that first takes an
    /// advisory lock per key of `keys` (the identity of the stories it may
    /// touch), so that writers on other instances touching the same story
    /// wait their turn, reads them in one round trip, and logs the change
    /// for the publishers of every instance.
    pub(super) fn write_with<T: Send + 'static>(
        &self,
        keys: Vec<Vec<u8>>,
        merge: impl FnOnce(&mut Reads<'_>) -> Result<(Batch, Change, T), StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = self.db_for_write()?;
        let _turn = lock(&self.write);
        let written = match &db {
            Db::Sled(_) => {
                let mut reads = Reads::new(&db);
                merge(&mut reads).and_then(|(batch, change, out)| {
                    db.apply(batch)?;
                    if !change.is_empty() {
                        self.record(change);
                    }
                    Ok(out)
                })
            }
            Db::Postgres(pg) => pg.write_locked(keys, move |reads| {
                let (mut batch, change, out) = merge(reads)?;
                if !change.is_empty() {
                    batch.log = Some(Logged::Change(LoggedChange::of(change)).encode());
                }
                Ok((batch, out))
            }),
        };
        self.wrote(written)
    }
}
