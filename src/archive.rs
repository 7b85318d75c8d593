//! RFC 5005 archives: readers that come late or were offline page back
//! through a section from its feed (`prev-archive`). A section's stories
//! are written into fixed-size pages in the order of their dates, oldest
//! first: page 1 holds the oldest `archive_page_size` stories, page 2 the
//! next, and so on; a page is written as soon as a page's worth of stories
//! is newer than the last page. As a page is no longer than the feed, the
//! stories not yet in a page are all in the feed: the feed and its
//! archive together hold every story (a page and the feed may share some).
//! A page is written once and never renumbered; a pruned story leaves its
//! page shorter. A story first stored with a date older than the newest
//! page goes in no page. Wires `store` and `select`.

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::model::ArchivePage;
use crate::select::Selection;
use crate::store::{Store, StoreError};

/// Pages written in one republish at most (the first republish of a large
/// store that had no archive writes them over several rounds).
const PAGES_PER_ROUND: usize = 200;

/// What one round of archiving did.
#[derive(Debug, Default)]
pub struct Archived {
    /// Per section: whether a page was written (its feed links to it).
    pub sections: Vec<bool>,
    /// Whether pages remain to be written (another round should follow).
    pub more: bool,
}

/// Writes the pages that are due: while a section has a page's worth of
/// stories newer than its archive's end.
pub fn archive_due(
    store: &Store,
    config: &Config,
    selection: &mut Selection,
    now: DateTime<Utc>,
) -> Result<Archived, StoreError> {
    let per_page = config.server.archive_page_size;
    let mut done = Archived {
        sections: vec![false; config.sections.len()],
        more: false,
    };
    let mut written = 0;
    for (i, section) in config.sections.iter().enumerate() {
        if selection.unarchived(i) < per_page {
            continue;
        }
        let mut number = store
            .last_archive_page::<ArchivePage>(&section.slug)?
            .map_or(0, |(n, _)| n);
        let after = selection.archive_mark(i).map(|(p, k)| (p, k.to_string()));
        let mut rows = store.oldest_first_after(after.as_ref().map(|(p, k)| (*p, k.as_str())));
        while selection.unarchived(i) >= per_page {
            if written == PAGES_PER_ROUND {
                done.more = true;
                return Ok(done);
            }
            let mut keys = Vec::with_capacity(per_page);
            let mut last = None;
            for row in rows.by_ref() {
                let row = row?;
                if selection.is_member(store, i, &row)? {
                    keys.push(row.key.clone());
                    last = Some((row.published, row.key));
                    if keys.len() == per_page {
                        break;
                    }
                }
            }
            let Some((last_published, last_key)) = last.filter(|_| keys.len() == per_page) else {
                // The count said a page was due, the index disagrees (an
                // entry removed meanwhile): wait for the next round.
                break;
            };
            number += 1;
            let page = ArchivePage {
                keys,
                last_published,
                last_key,
                written: now,
            };
            let page: ArchivePage = store.put_archive_page(&section.slug, number, &page)?;
            selection.archived(i, page.last_published, &page.last_key, per_page);
            done.sections[i] = true;
            written += 1;
        }
    }
    Ok(done)
}
