//! Pure: a section's entries → RSS 2.0, Atom 1.0 and JSON Feed 1.1 bytes,
//! the reading pages (front, section, story), the status page and the OPML
//! list of section feeds. Same input, same
//! bytes: no clock, no randomness, a total order. Depends on `config`,
//! `model` and `normalize` (HTML to text).

mod atom;
mod html;
mod json;
mod pages;
mod pictures;
mod rss;
mod subscribe;

use std::cmp::Ordering;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use url::Url;

use crate::config::Section;
use crate::model::Entry;

pub use self::atom::atom;
pub use self::html::{OPML_FORMATS, SectionSummary, SourceStatus, index_html, opml};
pub use self::json::json_feed;
pub use self::pages::{FRONT_PAGE_STORIES, Listing, Pages, ago, shorten, story_id, story_id_of_key, story_url};
pub use self::pictures::{image, picture_id, pictures};
pub use self::rss::rss;

/// Everything a section feed is rendered from.
#[derive(Debug, Clone, Copy)]
pub struct SectionFeed<'a> {
    pub section: &'a Section,
    /// `[server].base_url`, without a trailing `/`.
    pub base_url: &'a str,
    /// Newest first, already limited.
    pub entries: &'a [Arc<Entry>],
    pub kind: FeedKind,
    /// Archive pages the section has (RFC 5005); 0: none yet.
    pub archives: u32,
    /// The WebSub hub the feed names (`rel="hub"`), if any.
    pub hub: Option<&'a str>,
}

/// Which of a section's feeds this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedKind {
    /// `/sections/{slug}/rss.xml`…
    Section,
    /// The "all sections" feed (`/feed.xml`…), whose `section` is the site.
    All,
    /// `/sections/{slug}/digest.xml`…: one entry per period.
    Digest,
    /// `/sections/{slug}/archive/{n}.xml`…: page `n` of the archive (RFC 5005).
    Archive(u32),
}

/// The three formats a section is published in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    Rss,
    Atom,
    Json,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Rss, Format::Atom, Format::Json];

    pub fn file_name(self) -> &'static str {
        match self {
            Format::Rss => "rss.xml",
            Format::Atom => "atom.xml",
            Format::Json => "feed.json",
        }
    }

    /// Its media type, as `<link rel="alternate" type>` names it.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Rss => "application/rss+xml",
            Format::Atom => "application/atom+xml",
            Format::Json => "application/feed+json",
        }
    }

    /// Its name for people.
    pub fn label(self) -> &'static str {
        match self {
            Format::Rss => "RSS",
            Format::Atom => "Atom",
            Format::Json => "JSON Feed",
        }
    }

    /// The "all sections" feed's file, at the site's root.
    pub fn all_file_name(self) -> &'static str {
        match self {
            Format::Rss => "feed.xml",
            Format::Atom => "atom.xml",
            Format::Json => "feed.json",
        }
    }

    /// The extension of archive page files: `archive/{n}.xml`…
    pub fn archive_extension(self) -> &'static str {
        match self {
            Format::Rss => "xml",
            Format::Atom => "atom",
            Format::Json => "json",
        }
    }

    /// A section's digest feed's file.
    pub fn digest_file_name(self) -> &'static str {
        match self {
            Format::Rss => "digest.xml",
            Format::Atom => "digest.atom",
            Format::Json => "digest.json",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Rss => "application/rss+xml; charset=utf-8",
            Format::Atom => "application/atom+xml; charset=utf-8",
            Format::Json => "application/feed+json; charset=utf-8",
        }
    }

    pub fn render(self, feed: &SectionFeed<'_>) -> Vec<u8> {
        match self {
            Format::Rss => rss(feed),
            Format::Atom => atom(feed),
            Format::Json => json_feed(feed),
        }
    }
}

impl SectionFeed<'_> {
    pub fn url(&self, format: Format) -> String {
        match self.kind {
            FeedKind::Section => section_url(self.base_url, &self.section.slug, format),
            FeedKind::All => format!("{}/{}", self.base_url, format.all_file_name()),
            FeedKind::Digest => format!(
                "{}/sections/{}/{}",
                self.base_url,
                self.section.slug,
                format.digest_file_name()
            ),
            FeedKind::Archive(n) => archive_url(self.base_url, &self.section.slug, n, format),
        }
    }

    /// RFC 5005 links: a section feed points to its newest archive page;
    /// an archive page to the feed (`current`) and the page before it.
    /// (No `next-archive`: a page would change when the next one is
    /// written, and pages are immutable.)
    pub fn archive_links(&self, format: Format) -> Vec<(&'static str, String)> {
        let slug = &self.section.slug;
        match self.kind {
            FeedKind::Section if self.archives > 0 => {
                vec![("prev-archive", archive_url(self.base_url, slug, self.archives, format))]
            }
            FeedKind::Archive(n) => {
                let mut links = vec![("current", section_url(self.base_url, slug, format))];
                if n > 1 {
                    links.push(("prev-archive", archive_url(self.base_url, slug, n - 1, format)));
                }
                links
            }
            _ => Vec::new(),
        }
    }

    /// The page people read: the section's, or the front page.
    pub fn page_url(&self) -> String {
        match self.kind {
            FeedKind::All => format!("{}/", self.base_url),
            FeedKind::Section | FeedKind::Digest | FeedKind::Archive(_) => {
                section_page_url(self.base_url, &self.section.slug)
            }
        }
    }

    /// The feed's own id (Atom `id`).
    pub fn id(&self) -> String {
        match self.kind {
            FeedKind::Section => format!("tag:thau,2026:sections/{}", self.section.slug),
            FeedKind::All => "tag:thau,2026:all".to_string(),
            FeedKind::Digest => format!("tag:thau,2026:sections/{}/digest", self.section.slug),
            FeedKind::Archive(n) => format!("tag:thau,2026:sections/{}/archive/{n}", self.section.slug),
        }
    }

    /// The newest `updated` among the entries: the feed's own date, never
    /// the time of rendering (the epoch for an empty section).
    pub fn updated(&self) -> DateTime<Utc> {
        self.entries
            .iter()
            .map(|e| e.updated)
            .max()
            .unwrap_or(DateTime::UNIX_EPOCH)
    }

    /// The configured language, else the entries' most common one.
    pub fn language(&self) -> Option<String> {
        if let Some(l) = &self.section.language {
            return Some(l.clone());
        }
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for l in self.entries.iter().filter_map(|e| e.language.as_deref()) {
            *counts.entry(l).or_default() += 1;
        }
        counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
            .map(|(l, _)| l.to_string())
    }

    pub fn description(&self) -> String {
        self.section
            .description
            .clone()
            .unwrap_or_else(|| self.section.title.clone())
    }
}

/// A URL thau may republish as a link, an enclosure or an author's page:
/// http(s), and mailto where `mailto` says so. Entries are filtered when
/// they are stored; this keeps anything stored before from going out.
pub fn safe_url(url: &str, mailto: bool) -> Option<&str> {
    let scheme = url.split_once(':')?.0;
    let ok = scheme.eq_ignore_ascii_case("http")
        || scheme.eq_ignore_ascii_case("https")
        || (mailto && scheme.eq_ignore_ascii_case("mailto"));
    (ok && Url::parse(url).is_ok()).then_some(url)
}

pub fn section_url(base_url: &str, slug: &str, format: Format) -> String {
    format!("{base_url}/sections/{slug}/{}", format.file_name())
}

/// Page `n` of a section's archive.
pub fn archive_url(base_url: &str, slug: &str, n: u32, format: Format) -> String {
    format!("{base_url}/sections/{slug}/archive/{n}.{}", format.archive_extension())
}

/// The RFC 5005 namespace (`fh:archive` marks an archive document).
pub const FEED_HISTORY_NS: &str = "http://purl.org/syndication/history/1.0";

/// A section's reading page.
pub fn section_page_url(base_url: &str, slug: &str) -> String {
    format!("{base_url}/sections/{slug}/")
}

/// Newest first: by when they sort ([`Entry::sort_time`]), then updated,
/// then id, then key — a total order.
pub fn newest_first(a: &Entry, b: &Entry) -> Ordering {
    b.sort_time()
        .cmp(&a.sort_time())
        .then(b.updated.cmp(&a.updated))
        .then_with(|| public_id(a).cmp(&public_id(b)))
        .then_with(|| a.key.cmp(&b.key))
}

/// The id readers see: the entry's id when it is an absolute IRI (a URL, a
/// `urn:`, a `tag:`), else a `tag:` IRI naming the origin source, so that
/// `123` from two town halls stays two stories.
pub fn public_id(entry: &Entry) -> String {
    // An identifier as it is when its scheme only identifies; any other
    // (`javascript:`, `data:`…) would be a link a reader may follow.
    if Url::parse(&entry.id).is_ok_and(|u| matches!(u.scheme(), "http" | "https" | "urn" | "tag")) {
        return entry.id.clone();
    }
    let source = entry.sources.first().map_or("unknown", |s| s.name.as_str());
    let encoded: String = url::form_urlencoded::byte_serialize(entry.id.as_bytes()).collect();
    format!("tag:thau,2026:{source}/{encoded}")
}

/// Whether the public id is the entry's web address (RSS `isPermaLink`).
pub fn id_is_permalink(entry: &Entry) -> bool {
    Url::parse(&entry.id).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

#[cfg(test)]
pub(crate) mod tests;
