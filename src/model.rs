//! Plain data shared by every stage: the normalized [`Entry`], where it came
//! from ([`SourceRef`]), and what thau knows about polling a source
//! ([`FetchState`]). No I/O and no dependencies on other modules.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A 64-bit hash of `bytes` that is the same in every build, on every
/// machine and in every process (FNV-1a; the std hasher promises none of
/// that): for what restarts and instances must agree on.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One story, normalized, as stored and later published.
///
/// An entry relayed by several sources is stored once; `sources` lists every
/// source that carried it, the first one being the origin whose text is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Store key: `u:<canonical url>` when the story is identified by a URL
    /// (shared across sources), otherwise scoped to the first source.
    pub key: String,
    /// The stable public id: the source guid/id, else the canonical link,
    /// else `urn:sha256:<hash of title and content>`.
    pub id: String,
    /// Canonical absolute link (no fragment, no tracking parameters).
    pub link: Option<String>,
    /// Plain text, whitespace collapsed.
    pub title: String,
    /// Sanitized HTML.
    pub summary: Option<String>,
    /// Sanitized HTML, the full text when the source gave it.
    pub content: Option<String>,
    pub published: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    /// When thau first stored this entry; the date of undated entries.
    pub first_seen: DateTime<Utc>,
    /// False when the source gave no usable date and `published` is `first_seen`.
    pub dated: bool,
    /// Its link is one the source gives many entries (its home page, a
    /// section page): shown, but never what makes two entries one story.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub generic_link: bool,
    /// Its picture, as the source names it (`media:thumbnail`, in a
    /// `media:group` too; `itunes:image`; JSON Feed `image`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// A podcast episode's length as the source writes it (`itunes:duration`:
    /// `1:02:03`, `3723`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    pub authors: Vec<Person>,
    /// Union of the categories of every source that carried the entry.
    pub categories: Vec<String>,
    pub enclosures: Vec<Enclosure>,
    pub language: Option<String>,
    pub sources: Vec<SourceRef>,
}

/// How far ahead of its first sighting a date may be and still order the
/// entry: an agenda's events are weeks or months ahead; a date years ahead
/// is a publisher's mistake that would pin the entry on top.
pub const PLAUSIBLE_AHEAD: chrono::TimeDelta = chrono::TimeDelta::days(366);

impl Entry {
    /// When the entry sorts: its date, or, for a date implausibly far
    /// ahead ([`PLAUSIBLE_AHEAD`]), when it was first seen. The date
    /// published stays the source's.
    pub fn sort_time(&self) -> DateTime<Utc> {
        if self.published > self.first_seen + PLAUSIBLE_AHEAD {
            self.first_seen
        } else {
            self.published
        }
    }

    /// Names of the sources that carried this entry, origin first.
    pub fn source_names(&self) -> impl Iterator<Item = &str> {
        self.sources.iter().map(|s| s.name.as_str())
    }
}

/// One source's view of an entry: enough to route it, to credit the origin
/// feed (`<source url>` / `atom:source`), and to notice when it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRef {
    /// The source's name in `feeds.toml`.
    pub name: String,
    /// The guid/id as this source gave it, if any.
    pub guid: Option<String>,
    /// Title of the source's feed document.
    pub feed_title: Option<String>,
    /// URL of the source's feed document (absent for local files).
    pub feed_url: Option<String>,
    /// The feed document's own `updated` when this source's version was
    /// taken (what `atom:source` preserves).
    #[serde(default)]
    pub feed_updated: Option<DateTime<Utc>>,
    /// Whether this source's version has the full text (content, not only
    /// a summary): it then speaks for the story before one that does not.
    #[serde(default)]
    pub full_text: bool,
    /// The entry's own `updated` (else `published`) as this source gave
    /// it: a version older than the one stored (a replayed push) is not
    /// taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<DateTime<Utc>>,
    pub categories: Vec<String>,
    /// Hash of what this source said about the entry (before sanitizing);
    /// equal fingerprints mean nothing changed.
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub name: String,
    pub email: Option<String>,
    pub uri: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enclosure {
    pub url: String,
    pub media_type: Option<String>,
    pub length: Option<u64>,
}

/// One page of a section's archive (RFC 5005): the stories it holds, oldest
/// first, frozen when the page was written. A pruned story leaves the page
/// shorter; nothing is ever added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivePage {
    /// Store keys.
    pub keys: Vec<String>,
    /// Where the page ends in the time index: the newest story's
    /// `published` (as the index holds it) and key.
    pub last_published: DateTime<Utc>,
    pub last_key: String,
    /// When the page was written (its `Last-Modified`).
    pub written: DateTime<Utc>,
}

/// What the last poll of a source did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// At least one entry was new.
    New,
    /// No new entry, at least one changed.
    Updated,
    /// The document was fetched and parsed; nothing changed.
    Unchanged,
    /// The origin answered 304 (or the file did not change): nothing parsed.
    NotModified,
    /// The origin asked us to come back later (429/503 with Retry-After) and
    /// that time has not come yet: nothing fetched.
    Deferred,
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::New => "new",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
            Outcome::NotModified => "not-modified",
            Outcome::Deferred => "deferred",
            Outcome::Error => "error",
        }
    }

    pub fn is_failure(self) -> bool {
        self == Outcome::Error
    }
}

/// Everything thau remembers about polling one source. Stored per source,
/// written in the same atomic batch as the entries of the poll. Fields added
/// later read as their default from older records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FetchState {
    /// The location (URL or path) these validators belong to; when the
    /// configured location changes the validators are dropped.
    pub location: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Target of a permanent (301/308) redirect, for the admin to adopt.
    pub permanent_redirect: Option<String>,
    pub last_poll: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_outcome: Option<Outcome>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    /// Do not fetch before this instant (from `Retry-After`).
    pub retry_after: Option<DateTime<Utc>>,
    /// The origin answered 410 Gone.
    pub gone: bool,
    pub polls: u64,
    pub not_modified: u64,
    /// Entries in the last document parsed.
    pub last_entry_count: u32,
    /// The origin said its document stays fresh until then
    /// (`Cache-Control: max-age`, `Expires`).
    pub fresh_until: Option<DateTime<Utc>>,
    /// The source's `timezone` when these validators were kept: when it
    /// changes they are dropped, so the document is read again in the new
    /// zone.
    pub timezone: Option<String>,
    /// Entries of the last document its `include`/`exclude` kept out.
    pub last_filtered: u32,
    /// `full_text`: articles that could not be extracted (the teaser was
    /// kept), and why the last one failed.
    pub full_text_failures: u64,
    pub last_full_text_error: Option<String>,
    /// What the last document cost to read (entries feed-rs refused, left
    /// out): the poll succeeded, the admin should know.
    pub warning: Option<String>,
}

/// Folds text for matching: Unicode-decomposed, accents dropped, lowercased,
/// whitespace collapsed. "Sète", "SETE" and " sète " all fold to "sete".
pub fn fold(text: &str) -> String {
    use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(
            word.nfd()
                .filter(|c| !is_combining_mark(*c))
                .flat_map(char::to_lowercase),
        );
    }
    out
}

/// The names in order, without empty ones and without repeats under [`fold`]
/// ("Sète" then "SETE" keeps "Sète").
pub fn distinct_folded<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    names
        .into_iter()
        .map(str::trim)
        .filter(|n| !n.is_empty() && seen.insert(fold(n)))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{distinct_folded, fold};

    #[test]
    fn folding_ignores_case_accents_and_spacing() {
        assert_eq!(fold("Sète"), "sete");
        assert_eq!(fold("SÈTE"), fold("sete"));
        assert_eq!(fold("  Mèze  Ville "), "meze ville");
        assert_eq!(fold("Société"), "societe");
    }

    #[test]
    fn distinct_folded_keeps_the_first_spelling() {
        assert_eq!(distinct_folded(["Sète", " ", "SETE", "Culture"]), ["Sète", "Culture"]);
    }
}

/// Entries for unit tests elsewhere in the crate.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    pub fn entry(title: &str) -> Entry {
        let t = DateTime::parse_from_rfc3339("2026-11-24T17:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Entry {
            key: format!("g:test\n{title}"),
            id: title.to_string(),
            link: None,
            title: title.to_string(),
            summary: None,
            content: None,
            published: t,
            updated: t,
            first_seen: t,
            dated: true,
            generic_link: false,
            image: None,
            duration: None,
            authors: vec![],
            categories: vec![],
            enclosures: vec![],
            language: None,
            sources: vec![SourceRef {
                name: "test".into(),
                guid: Some(title.to_string()),
                feed_title: None,
                feed_url: None,
                feed_updated: None,
                full_text: false,
                updated: None,
                categories: vec![],
                fingerprint: String::new(),
            }],
        }
    }
}

/// Whether two URLs are on the same site: the same host, or hosts under
/// the same registered domain (`feeds.courrier.example` and
/// `www.courrier.example`). The registered domain is the last two labels,
/// or three under a common second-level suffix (`co.uk`, `gouv.fr`…);
/// addresses compare whole.
pub fn same_site(a: &str, b: &str) -> bool {
    let host = |u: &str| {
        url::Url::parse(u)
            .ok()
            .and_then(|u| u.host_str().map(|h| h.trim_end_matches('.').to_ascii_lowercase()))
    };
    match (host(a), host(b)) {
        (Some(a), Some(b)) => a == b || registered_domain(&a).is_some_and(|d| Some(d) == registered_domain(&b)),
        _ => false,
    }
}

fn registered_domain(host: &str) -> Option<&str> {
    if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        return None;
    }
    const SECOND_LEVEL: &[&str] = &[
        "co", "com", "org", "net", "gov", "gouv", "edu", "ac", "or", "ne", "go", "asso", "nom", "mil",
    ];
    let labels: Vec<&str> = host.split('.').collect();
    let n = labels.len();
    let take = match n {
        0 | 1 => return None,
        _ if n >= 3 && labels[n - 1].len() == 2 && SECOND_LEVEL.contains(&labels[n - 2]) => 3,
        _ => 2,
    };
    if n < take {
        return None;
    }
    let start: usize = labels[..n - take].iter().map(|l| l.len() + 1).sum();
    Some(&host[start..])
}

#[cfg(test)]
mod site_tests {
    use super::same_site;

    #[test]
    fn sites_are_registered_domains() {
        assert!(same_site(
            "https://feeds.courrier.example/rss",
            "https://www.courrier.example/a/1"
        ));
        assert!(same_site("http://127.0.0.1:8080/feed", "http://127.0.0.1:9090/a"));
        assert!(!same_site("https://evil.example/feed", "https://courrier.example/a"));
        assert!(same_site(
            "https://www.bbc.co.uk/news/rss.xml",
            "https://bbc.co.uk/news/1"
        ));
        assert!(!same_site("https://bbc.co.uk/rss", "https://evil.co.uk/1"));
        assert!(!same_site("https://herault.gouv.fr/rss", "https://gard.gouv.fr/a"));
        assert!(!same_site("https://a.example/", "not a url"));
    }
}
