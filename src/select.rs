//! Which entries each section shows: its newest `max_page_size` members
//! and how many it has in all, with entries stored per source. Built by one
//! scan of the store's time index, then kept up to date from the changes
//! each write reports ([`Change`]), so republishing after a poll costs the
//! poll's entries, not the store's million. Wires `store` and `route`.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::desk::{Hidden, Named};
use crate::model::{ArchivePage, Entry};
use crate::route::{Membership, Router};
use crate::store::{Change, IndexRow, Store, StoreError};

/// Where an entry sits in the time index: newest first, then by key.
type Rank = (Reverse<DateTime<Utc>>, String);

/// One section's part of a [`Selection`].
#[derive(Debug, Clone, Default)]
pub struct Pick {
    /// The section's newest members (at most `keep`), by index order.
    top: BTreeMap<Rank, Arc<Entry>>,
    /// Its members in all.
    pub total: usize,
    /// Entries its `include`/`exclude` keeps out.
    pub filtered: usize,
}

impl Pick {
    /// Counts a member met by a scan in index order, and keeps it while the
    /// page has room.
    fn scanned(
        &mut self,
        row: &IndexRow,
        keep: usize,
        entry: impl FnOnce() -> Result<Option<Arc<Entry>>, StoreError>,
    ) -> Result<(), StoreError> {
        self.total += 1;
        if self.top.len() < keep
            && let Some(e) = entry()?
        {
            self.top.insert(rank(row), e);
        }
        Ok(())
    }

    /// A member left; whether the page changed.
    fn removed(&mut self, row: &IndexRow) -> bool {
        self.total = self.total.saturating_sub(1);
        self.top.remove(&rank(row)).is_some()
    }

    /// A member arrived; whether the page changed.
    fn added(&mut self, row: &IndexRow, entry: &Arc<Entry>, keep: usize) -> bool {
        // The page always holds the first members in index order: an entry
        // older than its last one belongs on it only when no other member
        // is missing from it.
        let complete = self.top.len() == self.total;
        self.total += 1;
        let rank = rank(row);
        let newer = self.top.last_key_value().is_some_and(|(last, _)| rank < *last);
        if newer || (complete && self.top.len() < keep) {
            self.top.insert(rank, entry.clone());
            if self.top.len() > keep {
                self.top.pop_last();
            }
            return true;
        }
        false
    }

    /// The entries, newest first as the feeds list them.
    pub fn entries(&self) -> Vec<Arc<Entry>> {
        let mut entries: Vec<Arc<Entry>> = self.top.values().cloned().collect();
        entries.sort_by(|a, b| crate::publish::newest_first(a, b));
        entries
    }
}

/// What every section shows, for one configuration.
#[derive(Debug, Clone)]
pub struct Selection {
    router: Router,
    keep: usize,
    /// One per section, in configuration order.
    pub picks: Vec<Pick>,
    /// Every entry of at least one section, once: the "all sections" feed.
    pub all: Pick,
    /// Entries stored per source (configured or not).
    pub per_source: BTreeMap<String, usize>,
    /// Entries stored.
    pub total: usize,
    /// Stories taken down by hand: members of nothing.
    pub hidden: Hidden,
    /// Per section: the stories put in it by hand (its picks and pins),
    /// and whether only they are (`picks = true`).
    picked: Vec<Named>,
    picks_only: Vec<bool>,
    /// Per section: whether it is private (kept out of the "all sections" feed).
    private: Vec<bool>,
    /// Stories leading a section or the front page.
    pins: Vec<Pin>,
    /// Per section: where its archive ends (the newest archived story's
    /// place in the index), and how many of its members are newer.
    marks: Vec<Option<Rank>>,
    beyond: Vec<usize>,
}

/// A story that leads a section (`section` None: the front page).
#[derive(Debug, Clone)]
struct Pin {
    section: Option<usize>,
    story: Named,
    until: Option<DateTime<Utc>>,
    at: Option<DateTime<Utc>>,
}

impl Selection {
    /// Scans the whole time index once. An entry is read only when a
    /// section wants it or only its text can tell.
    pub fn scan(store: &Store, config: &Config) -> Result<Selection, StoreError> {
        let router = Router::new(config);
        let mut marks = Vec::with_capacity(config.sections.len());
        for section in &config.sections {
            let last = store.last_archive_page::<ArchivePage>(&section.slug)?;
            marks.push(last.map(|(_, page)| (Reverse(page.last_published), page.last_key)));
        }
        let mut selection = Selection {
            picks: vec![Pick::default(); router.slugs().count()],
            all: Pick::default(),
            beyond: vec![0; marks.len()],
            marks,
            router,
            keep: config.server.max_page_size,
            per_source: BTreeMap::new(),
            total: 0,
            hidden: Hidden::hidden(config, store)?,
            picked: Vec::new(),
            picks_only: config.sections.iter().map(|s| s.picks).collect(),
            private: config.sections.iter().map(|s| s.private).collect(),
            pins: Vec::new(),
        };
        let slug = |slug: &str| config.sections.iter().position(|s| s.slug == slug);
        for (i, section) in config.sections.iter().enumerate() {
            let picks = config
                .picked
                .iter()
                .filter(|p| p.section == section.slug)
                .map(|p| (p.story.as_str(), p.at));
            let pins = config
                .pinned
                .iter()
                .filter(|p| p.section == section.slug)
                .map(|p| (p.story.as_str(), p.at));
            selection.picked.push(Named::resolve(picks.chain(pins), store)?);
            debug_assert_eq!(selection.picked.len(), i + 1);
        }
        for pin in &config.pinned {
            selection.pins.push(Pin {
                section: slug(&pin.section),
                story: Named::resolve([(pin.story.as_str(), pin.at)], store)?,
                until: pin.until,
                at: pin.at,
            });
        }
        for row in store.recent() {
            let row = row?;
            selection.count(&row.routing.sources, 1);
            if selection.hidden.covers(&row.key) {
                // (By key from now on: the export deletes its page.)
                selection.hidden.add_key(&row.key);
                continue;
            }
            selection.found_pins(&row.key, None);
            let mut entry: Option<Arc<Entry>> = None;
            let mut anywhere = false;
            for i in 0..selection.picks.len() {
                let member = selection.classify(i, &row, || load(store, &row.key, &mut entry))?;
                if member == Membership::Filtered {
                    selection.picks[i].filtered += 1;
                }
                if member != Membership::In {
                    continue;
                }
                // (A private section's stories stay out of the "all sections" feed.)
                anywhere |= !selection.private[i];
                let keep = selection.keep;
                selection.picks[i].scanned(&row, keep, || load(store, &row.key, &mut entry))?;
                if selection.past_mark(i, &row) {
                    selection.beyond[i] += 1;
                }
            }
            if anywhere {
                let keep = selection.keep;
                selection
                    .all
                    .scanned(&row, keep, || load(store, &row.key, &mut entry))?;
            }
        }
        Ok(selection)
    }

    /// Which sections (and last the "all sections" feed) show something
    /// else than in `before`, a selection of the same config: what a
    /// publisher that scanned again (another instance wrote) must render.
    pub fn changed_since(&self, before: &Selection) -> Vec<bool> {
        let same_pick = |a: &Pick, b: &Pick| {
            a.total == b.total
                && a.filtered == b.filtered
                && a.top.len() == b.top.len()
                && a.top
                    .iter()
                    .zip(&b.top)
                    .all(|((ra, ea), (rb, eb))| ra == rb && (Arc::ptr_eq(ea, eb) || ea == eb))
        };
        let mut dirty: Vec<bool> = (0..self.picks.len())
            .map(|i| {
                before.picks.get(i).is_none_or(|b| !same_pick(&self.picks[i], b))
                    || before.marks.get(i) != self.marks.get(i)
                    || before.beyond.get(i) != self.beyond.get(i)
            })
            .collect();
        dirty.push(!same_pick(&self.all, &before.all));
        dirty
    }

    /// Applies what writes did since; returns which sections now show
    /// something else (their feeds must be rendered again), and last
    /// whether the "all sections" feed does.
    pub fn apply(&mut self, store: &Store, changes: &[Change]) -> Result<Vec<bool>, StoreError> {
        let n = self.picks.len();
        let mut dirty = vec![false; n + 1];
        for change in changes {
            for (row, old) in &change.removed {
                self.count(&row.routing.sources, -1);
                if self.hidden.covers(&row.key) {
                    continue;
                }
                let mut anywhere = false;
                for i in 0..n {
                    let member = self.classify(i, row, || Ok::<_, StoreError>(old.clone()))?;
                    if member == Membership::Filtered {
                        self.picks[i].filtered = self.picks[i].filtered.saturating_sub(1);
                    }
                    if member == Membership::In {
                        anywhere |= !self.private[i];
                        dirty[i] |= self.picks[i].removed(row);
                        if self.past_mark(i, row) {
                            self.beyond[i] = self.beyond[i].saturating_sub(1);
                        }
                    }
                }
                if anywhere {
                    dirty[n] |= self.all.removed(row);
                }
            }
            for (row, entry) in &change.added {
                self.count(&row.routing.sources, 1);
                if self.hidden.covers_entry(entry) {
                    // (By key from now on: it may have been matched by its link.)
                    self.hidden.add_key(&row.key);
                    continue;
                }
                self.found_pins(&row.key, Some(entry));
                let mut anywhere = false;
                for i in 0..n {
                    let member = self.classify(i, row, || Ok::<_, StoreError>(Some(entry.clone())))?;
                    if member == Membership::Filtered {
                        self.picks[i].filtered += 1;
                    }
                    if member == Membership::In {
                        anywhere |= !self.private[i];
                        dirty[i] |= self.picks[i].added(row, entry, self.keep);
                        if self.past_mark(i, row) {
                            self.beyond[i] += 1;
                        }
                    }
                }
                if anywhere {
                    dirty[n] |= self.all.added(row, entry, self.keep);
                }
            }
        }
        for i in 0..=n {
            let pick = if i < n { &self.picks[i] } else { &self.all };
            if pick.top.len() < self.keep.min(pick.total) {
                // An entry left the page and older members exist: take them
                // from where the page ends.
                self.refill(store, i)?;
                dirty[i] = true;
            }
        }
        Ok(dirty)
    }

    /// Fills section `i`'s page (the "all sections" page for the index
    /// past the last section) from the time index, after its last entry.
    fn refill(&mut self, store: &Store, i: usize) -> Result<(), StoreError> {
        let n = self.picks.len();
        let pick = if i < n { &self.picks[i] } else { &self.all };
        let after = pick.top.last_key_value().map(|(rank, _)| rank.clone());
        let rows = match &after {
            Some((Reverse(published), key)) => store.recent_after(*published, key),
            None => store.recent(),
        };
        for row in rows {
            let row = row?;
            if self.hidden.covers(&row.key) {
                continue;
            }
            let mut entry = None;
            let member = if i < n {
                self.member(i, &row, || load(store, &row.key, &mut entry))?
            } else {
                let mut any = false;
                for j in (0..n).filter(|&j| !self.private[j]) {
                    if self.member(j, &row, || load(store, &row.key, &mut entry))? {
                        any = true;
                        break;
                    }
                }
                any
            };
            if !member {
                continue;
            }
            let pick = if i < n { &mut self.picks[i] } else { &mut self.all };
            if let Some(e) = load(store, &row.key, &mut entry)? {
                pick.top.insert(rank(&row), e);
            }
            if pick.top.len() >= self.keep {
                break;
            }
        }
        Ok(())
    }

    /// Whether `row` is newer than where section `i`'s archive ends.
    fn past_mark(&self, i: usize, row: &IndexRow) -> bool {
        self.marks[i].as_ref().is_none_or(|mark| rank(row) < *mark)
    }

    /// Section `i`'s members newer than its archive's end.
    pub fn unarchived(&self, i: usize) -> usize {
        self.beyond[i]
    }

    /// Where section `i`'s archive ends: (published, key) of its newest story.
    pub fn archive_mark(&self, i: usize) -> Option<(DateTime<Utc>, &str)> {
        self.marks[i].as_ref().map(|(Reverse(p), k)| (*p, k.as_str()))
    }

    /// Section `i`'s archive now ends at (`published`, `key`), `count`
    /// members later.
    pub fn archived(&mut self, i: usize, published: DateTime<Utc>, key: &str, count: usize) {
        self.marks[i] = Some((Reverse(published), key.to_string()));
        self.beyond[i] = self.beyond[i].saturating_sub(count);
    }

    /// The entry behind `row` when it belongs to section `i` (and still is
    /// stored).
    pub fn member_entry(&self, store: &Store, i: usize, row: &IndexRow) -> Result<Option<Arc<Entry>>, StoreError> {
        if self.hidden.covers(&row.key) {
            return Ok(None);
        }
        let mut entry = None;
        if self.member(i, row, || load(store, &row.key, &mut entry))? {
            return load(store, &row.key, &mut entry);
        }
        Ok(None)
    }

    /// Whether `row` belongs to section `i`, reading its entry only when
    /// the section's rules need it (keywords): what an archive page's list
    /// of keys needs, without decoding every story of the section.
    pub fn is_member(&self, store: &Store, i: usize, row: &IndexRow) -> Result<bool, StoreError> {
        if self.hidden.covers(&row.key) {
            return Ok(false);
        }
        let mut entry = None;
        self.member(i, row, || load(store, &row.key, &mut entry))
    }

    /// Section `i`'s members published in `[start, end)`, newest first
    /// (one range of the time index, not a scan of the store).
    pub fn members_between(
        &self,
        store: &Store,
        i: usize,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Arc<Entry>>, StoreError> {
        let mut members = Vec::new();
        for row in store.recent_after(end, "") {
            let row = row?;
            if row.published >= end {
                continue;
            }
            if row.published < start {
                break;
            }
            if self.hidden.covers(&row.key) {
                continue;
            }
            let mut entry = None;
            if self.member(i, &row, || load(store, &row.key, &mut entry))?
                && let Some(e) = load(store, &row.key, &mut entry)?
            {
                members.push(e);
            }
        }
        members.sort_by(|a, b| crate::publish::newest_first(a, b));
        Ok(members)
    }

    /// Whether `row` is in section `i`: put there by hand, else (unless
    /// the section takes only its picks) by its routing rules.
    fn classify<E>(
        &self,
        i: usize,
        row: &IndexRow,
        entry: impl FnOnce() -> Result<Option<Arc<Entry>>, E>,
    ) -> Result<Membership, E> {
        if self.picked[i].covers(&row.key) {
            return Ok(Membership::In);
        }
        if self.picks_only[i] {
            return Ok(Membership::Out);
        }
        self.router.classify(i, &row.routing, entry)
    }

    fn member<E>(
        &self,
        i: usize,
        row: &IndexRow,
        entry: impl FnOnce() -> Result<Option<Arc<Entry>>, E>,
    ) -> Result<bool, E> {
        Ok(self.classify(i, row, entry)? == Membership::In)
    }

    /// Records `key` as the story of the pins and picks that name it (an
    /// `entry` that arrives: also by its link or guid).
    fn found_pins(&mut self, key: &str, entry: Option<&Arc<Entry>>) {
        let named = |n: &Named| match entry {
            Some(e) => n.covers_entry(e),
            None => n.covers(key),
        };
        for pin in &mut self.pins {
            if !pin.story.is_empty() && named(&pin.story) {
                pin.story.add_key(key);
            }
        }
        for picked in &mut self.picked {
            if !picked.is_empty() && entry.is_some() && named(picked) {
                picked.add_key(key);
            }
        }
    }

    /// The stories pinned to lead section `i` now (`None`: the front
    /// page), latest pin first, as stored; hidden ones aside.
    pub fn pinned(&self, store: &Store, i: Option<usize>, now: DateTime<Utc>) -> Result<Vec<Arc<Entry>>, StoreError> {
        let mut pins: Vec<&Pin> = self
            .pins
            .iter()
            .filter(|p| p.section == i && p.until.is_none_or(|u| now < u))
            .collect();
        pins.sort_by_key(|p| std::cmp::Reverse(p.at));
        let mut entries = Vec::new();
        for pin in pins {
            for key in pin.story.found() {
                if self.hidden.covers(key) {
                    continue;
                }
                if let Some(e) = store.entry(key)? {
                    entries.push(Arc::new(e));
                    break;
                }
            }
        }
        Ok(entries)
    }

    /// Whether section `i` has pins (rendered at each pass: one may have ended).
    pub fn has_pins(&self, i: usize) -> bool {
        self.pins.iter().any(|p| p.section == Some(i))
    }

    /// When the next pin ends (the site is rendered again then).
    pub fn next_unpin(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.pins.iter().filter_map(|p| p.until).filter(|u| *u > now).min()
    }

    fn count(&mut self, sources: &[String], delta: isize) {
        self.total = self.total.saturating_add_signed(delta);
        for source in sources {
            let n = self.per_source.entry(source.clone()).or_default();
            *n = n.saturating_add_signed(delta);
            if *n == 0 {
                self.per_source.remove(source);
            }
        }
    }
}

fn rank(row: &IndexRow) -> Rank {
    (Reverse(row.published), row.key.clone())
}

/// Reads an entry once for all the sections asking.
fn load(store: &Store, key: &str, entry: &mut Option<Arc<Entry>>) -> Result<Option<Arc<Entry>>, StoreError> {
    if entry.is_none() {
        *entry = store.entry(key)?.map(Arc::new);
    }
    Ok(entry.clone())
}
