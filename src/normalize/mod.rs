//! Pure: a fetched document → normalized entries. Decodes charsets feed-rs
//! misses, works around its traps (random ids, invalid `xml:base`), and
//! turns each entry into a stable record: id, canonical link, plain-text
//! title, sanitized HTML with absolute URLs, UTC dates. Depends on `model`.
//!
//! Two steps, so a re-poll can skip the costly one: [`parse`] yields
//! [`RawEntry`]s with their key and fingerprint; [`RawEntry::finish`]
//! sanitizes and builds the [`Entry`] only for what changed.
//!
//! Here: [`parse`] (the document: charset, cap, legacy namespaces, feed-rs,
//! its second look, the entries' keys), and what it delegates to:
//! - `charset`: bytes in any charset to UTF-8;
//! - `cap`: the newest `max_entries_per_poll` entries, before any model;
//! - `legacy_ns`, `rss1`: documents in namespaces feed-rs skips, reshaped;
//! - `repair`: documents feed-rs refuses, repaired or read entry by entry;
//! - `scan`: a second look at each entry for what feed-rs misses;
//! - `entry`: one entry's identity (key, id, link, fingerprint) and the
//!   stored [`Entry`] made of it;
//! - `links`: canonical links, and the feeds a page announces;
//! - `text`: titles, HTML sanitized, texts cut, XML-safe characters;
//! - `nesting`: HTML bounded before any HTML parser sees it.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use encoding_rs::Encoding;
use feed_rs::model::{self as fm, Text};
use sha2::{Digest, Sha256};
use url::Url;

use crate::model::{Enclosure, Entry, Person, SourceRef, distinct_folded};
use crate::{dates, legacy_ns};

mod cap;
mod charset;
mod entry;
mod links;
pub mod nesting;
mod repair;
mod rss1;
mod scan;
mod text;

pub use charset::transcode_from;
use charset::*;
pub use entry::*;
pub use links::*;
use repair::*;
use scan::{EntryScan, scan_entries};
pub use text::*;

/// What the pipeline knows about the document besides its bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct DocContext<'a> {
    /// The source's name in `feeds.toml`.
    pub source: &'a str,
    /// Where the document was fetched from (None for local files).
    pub url: Option<&'a Url>,
    /// The HTTP `Content-Type`, whose charset overrides the XML declaration.
    pub content_type: Option<&'a str>,
    /// Where the publisher is: dates written without a zone are local time
    /// there (UTC when `None`).
    pub timezone: Option<Tz>,
    /// The most entries taken from one document (its newest); None: all.
    pub max_entries: Option<usize>,
    /// What identifies an entry (a source's `id`).
    pub id_from: IdFrom,
}

/// What identifies a source's entries (`id = "guid" | "link" | "content"`):
/// the guid (else the link, else the text), or, for a source whose guids
/// are broken (new on every poll, shared by every item), the link (else the
/// text), or the text alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IdFrom {
    #[default]
    Guid,
    Link,
    Content,
}

#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    #[error("empty document")]
    Empty,
    #[error("not a feed: {0}")]
    Parse(#[from] feed_rs::parser::ParseFeedError),
    #[error("the feed parser crashed on this document")]
    ParserPanic,
    /// A web page where a feed was expected, with the feeds it announces.
    #[error("not a feed but an HTML page{}", announced(.0))]
    HtmlPage(Vec<String>),
}

fn announced(feeds: &[String]) -> String {
    match feeds {
        [] => " (it links to no feed)".to_string(),
        [one] => format!("; its feed is {one}: use that URL"),
        many => format!("; it links to these feeds: {}", many.join(", ")),
    }
}

/// A parsed document: feed-level facts and its entries, not yet sanitized.
#[derive(Debug)]
pub struct ParsedFeed {
    /// The source's name in `feeds.toml`.
    pub source: String,
    pub title: Option<String>,
    /// The site the feed belongs to (its alternate link).
    pub site: Option<Url>,
    pub language: Option<String>,
    pub feed_url: Option<String>,
    /// The document's own `updated`/`lastBuildDate`, in UTC.
    pub updated: Option<DateTime<Utc>>,
    /// The WebSub hub the document names (`rel="hub"`) and its own URL
    /// (`rel="self"`, the topic to subscribe to).
    pub hub: Option<Url>,
    pub self_url: Option<Url>,
    authors: Vec<Person>,
    /// Entries in the document, beyond `max_entries` included.
    pub total: usize,
    /// Whether the format says when a title is HTML (Atom, JSON Feed): then
    /// a plain-text title is kept as written. RSS does not say.
    typed_text: bool,
    pub entries: Vec<RawEntry>,
    /// The most bytes of an entry's summary, and of its content, that are
    /// kept ([`DEFAULT_MAX_TEXT`] unless the caller says: `[poll]
    /// max_entry_size`); a longer text is cut at a tag, and ends with
    /// [`CUT_MARK`].
    pub max_text: usize,
    /// What was left out to read the document at all (entries feed-rs
    /// refuses), for the status page.
    pub warning: Option<String>,
}

/// Parses a feed document (RSS 0.9x/1.0/2.0, Atom 0.3/1.0, JSON Feed).
pub fn parse(bytes: &[u8], cx: &DocContext<'_>) -> Result<ParsedFeed, NormalizeError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(NormalizeError::Empty);
    }
    let mut decoded = decode(bytes, cx.content_type);
    // Past the cap, only the newest entries go further: feed-rs's model
    // of a document of 300,000 tiny items would take gigabytes. First, so
    // that every later step is bounded too; entries are counted by local
    // name, however prefixed (`<r:item>` is an item).
    let mut total = None;
    if let Some(max) = cx.max_entries
        && let Some((cut, all)) = cap::newest(&decoded, max, cx.timezone)
    {
        decoded = Cow::Owned(cut);
        total = Some(all);
    }
    // feed-rs reads no entries from Atom 0.3, RSS 0.90 and other namespaces
    // it does not know: give it their modern equivalents.
    if legacy_ns::may_apply(&decoded)
        && let Some(upgraded) = legacy_ns::upgrade(&utf8(&decoded))
    {
        decoded = Cow::Owned(upgraded);
    }
    if rss1::may_apply(&decoded)
        && let Some(reshaped) = rss1::reshape(&utf8(&decoded))
    {
        decoded = Cow::Owned(reshaped);
    }

    // Published as the entries' origin: never with credentials.
    let feed_url = cx.url.map(|u| crate::redact::redacted(u).to_string());
    // Relative links never inherit the credentials of the source's URL.
    let base = cx.url.map(|u| crate::redact::base(u).into_owned());
    let cx = &DocContext {
        url: base.as_ref(),
        ..*cx
    };
    // A parser bug must cost one document, not the process: feed-rs's XML
    // reader has panicked on inputs its authors did not foresee.
    let attempt = std::panic::catch_unwind(|| match parse_feed(&decoded, cx.url) {
        // No entry read from a document that has some: read as a reader
        // would (an Atom feed in another namespace, `<item>`s in Atom).
        Ok(feed) if feed.entries.is_empty() && !cap::item_spans(&decoded).is_empty() => match retry(&decoded, cx.url) {
            Some((fixed, repaired, warning)) if !fixed.entries.is_empty() => Ok((fixed, Some((repaired, warning)))),
            _ => Ok((feed, None)),
        },
        Ok(feed) => Ok((feed, None)),
        Err(first) => retry(&decoded, cx.url)
            .map(|(feed, repaired, warning)| (feed, Some((repaired, warning))))
            .ok_or(first),
    });
    let (feed, repaired) = match attempt.map_err(|_| NormalizeError::ParserPanic)? {
        Ok(read) => read,
        Err(_) if looks_like_html(&decoded) => {
            return Err(NormalizeError::HtmlPage(discover_feeds(&utf8(&decoded), cx.url)));
        }
        Err(e) => return Err(e.into()),
    };
    // What was read is what the entries' second look (below) reads.
    let mut warning = None;
    if let Some((doc, said)) = repaired {
        decoded = Cow::Owned(doc);
        warning = said;
    }
    // feed-rs resolves links against xml:base but does not say which base
    // applies to an entry's HTML, and drops dates it cannot read (any date
    // without a zone among them): look at the document again when it uses
    // xml:base or an entry came out undated.
    let scans = if feed.feed_type == fm::FeedType::JSON {
        Vec::new()
    } else {
        scan_entries(&utf8(&decoded), cx.url)
    };
    let mut built = build(feed, scans, cx);
    if built.hub.is_none() && bytes.trim_ascii_start().starts_with(b"{") {
        // feed-rs does not read a JSON Feed's `hubs`.
        (built.hub, built.self_url) = json_feed_hub(bytes, cx.url);
    }
    Ok(ParsedFeed {
        feed_url,
        total: total.unwrap_or(built.entries.len()),
        warning,
        ..built
    })
}

/// A JSON Feed's WebSub hub (`hubs`, of type WebSub) and `feed_url`.
fn json_feed_hub(bytes: &[u8], base: Option<&Url>) -> (Option<Url>, Option<Url>) {
    #[derive(serde::Deserialize)]
    struct Hubs {
        #[serde(default)]
        hubs: Vec<Hub>,
        feed_url: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Hub {
        #[serde(rename = "type")]
        kind: Option<String>,
        url: Option<String>,
    }
    let Ok(doc) = serde_json::from_slice::<Hubs>(bytes) else {
        return (None, None);
    };
    let hub = doc
        .hubs
        .iter()
        .filter(|h| h.kind.as_deref().is_some_and(|k| k.eq_ignore_ascii_case("websub")))
        .find_map(|h| http_url(h.url.as_deref()?, base));
    (hub, doc.feed_url.as_deref().and_then(|u| http_url(u, base)))
}

fn parse_feed(bytes: &[u8], url: Option<&Url>) -> Result<fm::Feed, feed_rs::parser::ParseFeedError> {
    feed_rs::parser::Builder::new()
        .base_uri(url.map(Url::as_str))
        // feed-rs invents an id (a random UUID when there is no link); an
        // empty one tells us the source gave none, and we derive our own.
        .id_generator(|_, _, _| String::new())
        .sanitize_content(false)
        .build()
        .parse(bytes)
}

fn build(feed: fm::Feed, scans: Vec<EntryScan>, cx: &DocContext<'_>) -> ParsedFeed {
    let site = feed
        .links
        .iter()
        .filter(|l| matches!(l.rel.as_deref(), None | Some("alternate")))
        .find_map(|l| http_url(&l.href, cx.url));
    let linked = |rel: &str| {
        feed.links
            .iter()
            .filter(|l| l.rel.as_deref() == Some(rel))
            .find_map(|l| http_url(&l.href, cx.url))
    };
    let (hub, self_url) = (linked("hub"), linked("self"));
    let doc_base = cx.url.cloned().or_else(|| site.clone());
    let authors = people(&feed.authors);
    let typed_text = matches!(feed.feed_type, fm::FeedType::Atom | fm::FeedType::JSON);
    let mut seen = HashSet::new();
    let mut entries = Vec::with_capacity(feed.entries.len());
    // Matched by position; a document feed-rs read differently is left as
    // feed-rs read it.
    let mut scans = scans.into_iter();
    let matched = scans.len() == feed.entries.len();
    for mut inner in feed.entries {
        let scan = scans.next().filter(|_| matched).unwrap_or_default();
        let kind = match feed.feed_type {
            fm::FeedType::JSON => Kind::Json,
            fm::FeedType::Atom => Kind::Atom,
            _ => Kind::Rss,
        };
        amend(&mut inner, &scan, cx.timezone, kind);
        // Relative URLs in an entry resolve against an explicit xml:base
        // (the entry's, or its content's own), else the entry's page (right
        // for feeds served by another host, such as feed proxies), else the
        // document.
        let entry_base = scan.base.filter(|b| Some(b) != cx.url);
        let explicit_base = match inner.base.as_deref() {
            Some(content_base) => http_url(content_base, entry_base.as_ref().or(doc_base.as_ref())),
            None => entry_base,
        };
        // Its picture: a Media RSS thumbnail (feed-rs reads the ones in
        // `media:group`; the scan, the item's own), else its itunes:image.
        let thumbnail = inner
            .media
            .iter()
            .flat_map(|m| &m.thumbnails)
            .map(|t| t.image.uri.clone())
            .next();
        let image = scan
            .thumbnail
            .clone()
            .or(thumbnail)
            .or_else(|| scan.itunes_image.clone())
            .and_then(|src| http_url(&src, explicit_base.as_ref().or(doc_base.as_ref())))
            .map(String::from)
            .filter(|src| !is_tracking_pixel(&format!("<img src=\"{src}\">")));
        let duration = scan.duration.clone();
        let mut raw = RawEntry::new(inner, explicit_base, doc_base.as_ref(), cx.source, kind, cx.id_from);
        (raw.image, raw.duration) = (image, duration);
        entries.push(raw);
    }
    // Entries of one document that share a link: told apart by their
    // links' fragments when each has its own (a live blog's `#update-3`),
    // else the link is generic to this source (a town hall linking every
    // notice to its home page) and makes no two entries one story. A site's
    // root or the feed's own site link is generic too.
    let mut by_link: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        if let Some(link) = &e.link {
            by_link.entry(link.to_string()).or_default().push(i);
        }
    }
    for members in by_link.values().filter(|m| m.len() > 1) {
        let fragments: HashSet<Option<&str>> = members.iter().map(|&i| entries[i].fragment.as_deref()).collect();
        if fragments.len() == members.len() && !fragments.contains(&None) {
            for &i in members {
                entries[i].keep_fragment();
            }
        } else {
            for &i in members {
                entries[i].generic(cx.source);
            }
        }
    }
    for e in entries.iter_mut() {
        let root = e
            .link
            .as_ref()
            .is_some_and(|l| matches!(l.path(), "" | "/") && l.query().is_none() && l.fragment().is_none());
        if root || (e.link.is_some() && e.link == site) {
            e.generic(cx.source);
        }
    }
    // Items that share one guid (an agenda repeating its page's URL as each
    // event's guid) are not one story: each is known by its guid and its
    // link (or its text), which stays the same from poll to poll.
    let mut repeated: HashMap<String, usize> = HashMap::new();
    for e in &entries {
        *repeated.entry(e.key.clone()).or_default() += 1;
    }
    for e in entries.iter_mut().filter(|e| repeated[&e.key] > 1) {
        e.distinguish();
    }
    entries.retain(|e| seen.insert(e.key.clone()));
    ParsedFeed {
        source: cx.source.to_string(),
        title: feed.title.map(|t| text_of(&t, typed_text)).filter(|t| !t.is_empty()),
        site,
        language: feed.language,
        feed_url: cx.url.map(Url::to_string),
        updated: feed.updated,
        hub,
        self_url,
        authors,
        total: entries.len(),
        typed_text,
        entries,
        max_text: DEFAULT_MAX_TEXT,
        warning: None,
    }
}

/// What readers read of an entry where feed-rs reads otherwise: the first
/// of repeated titles, guids and dates (feed-rs keeps the last), dates it
/// cannot read, and the titles, texts and categories of modules it skips.
fn amend(inner: &mut fm::Entry, scan: &EntryScan, timezone: Option<Tz>, kind: Kind) {
    amend_dates(inner, scan, timezone, kind);
    amend_titles(inner, scan);
    amend_links(inner, scan, kind);
    amend_text(inner, scan);
}

/// The dates readers read: the first of repeated RSS dates, and the dates
/// feed-rs could not read.
fn amend_dates(inner: &mut fm::Entry, scan: &EntryScan, timezone: Option<Tz>, kind: Kind) {
    let read = |raw: &Option<String>| raw.as_deref().and_then(|raw| dates::parse_in(raw, timezone));
    // Of two pubDates, readers take the first; of two Atom `published`,
    // feedparser the last, as feed-rs does.
    if (inner.published.is_none() && inner.updated.is_none()) || (scan.dates > 1 && kind == Kind::Rss) {
        if let Some(first) = read(&scan.published) {
            inner.published = Some(first);
        }
        if inner.updated.is_none() {
            inner.updated = read(&scan.updated);
        }
    }
    // A publication date feed-rs could not read (no seconds, spaces, a
    // field past its range), beside an update date it could: read it, so
    // the entry is not dated by its update. In RSS the pubDate is the
    // publication date, a dc:date beside it the update (feed-rs may take
    // the dc:date for both).
    if inner.published.is_none() || (kind == Kind::Rss && scan.published.is_some()) {
        inner.published = read(&scan.published).or(inner.published);
    }
    if inner.updated.is_none() {
        inner.updated = read(&scan.updated);
    }
}

/// The title and id readers read (the first of repeated ones, all the text
/// of a title written with elements), and the categories of skipped modules.
fn amend_titles(inner: &mut fm::Entry, scan: &EntryScan) {
    if scan.titles > 1
        && let (Some(title), Some(first)) = (inner.title.as_mut(), &scan.title)
    {
        title.content = first.clone();
    }
    // A title written with child elements: all its text, not the part
    // before the first element (or nothing).
    if let Some(markup) = &scan.title_markup {
        inner.title = Some(text(markup, "text/html"));
    }
    if inner.title.as_ref().is_none_or(|t| t.content.trim().is_empty())
        && let Some(other) = &scan.other_title
    {
        inner.title = Some(text(other, "text/plain"));
    }
    if scan.guids > 1
        && let Some((first, _)) = &scan.guid
    {
        inner.id = first.clone();
    }
    for subject in &scan.subjects {
        if !subject.is_empty() && !inner.categories.iter().any(|c| c.term == *subject) {
            inner.categories.push(fm::Category::new(subject));
        }
    }
}

/// The link readers follow: the last of several RSS links, or one feed-rs
/// skipped.
fn amend_links(inner: &mut fm::Entry, scan: &EntryScan, kind: Kind) {
    // Of several RSS `<link>`s, feedparser and gofeed keep the last.
    if kind == Kind::Rss
        && scan.rss_links > 1
        && let Some(last) = scan.last_rss_link.as_deref().map(str::trim)
        && let Some(at) = inner
            .links
            .iter()
            .position(|l| l.target.is_none() && l.href.trim().ends_with(last))
    {
        let link = inner.links.remove(at);
        inner.links.insert(0, link);
    }
    // A link readers follow that feed-rs skipped (an Atom link in an RSS
    // item, an RSS link given as href, an Atom link written as text): the
    // entry's link when it has none.
    let has_link = inner
        .links
        .iter()
        .any(|l| matches!(l.rel.as_deref(), None | Some("alternate")) && !l.href.trim().is_empty());
    if !has_link && let Some(href) = scan.other_links.first() {
        inner.links.insert(
            0,
            fm::Link {
                href: href.clone(),
                rel: Some("alternate".into()),
                media_type: None,
                href_lang: None,
                title: None,
                length: None,
                target: None,
            },
        );
    }
}

/// The text readers show: markup feed-rs cut, mixed content, module texts,
/// base64 Atom content.
fn amend_text(inner: &mut fm::Entry, scan: &EntryScan) {
    if let Some(markup) = &scan.content_markup {
        let c = inner.content.get_or_insert_with(fm::Content::default);
        c.body = Some(markup.clone());
        c.content_type = "text/html".parse().expect("a media type");
    }
    if let Some(markup) = &scan.summary_markup {
        inner.summary = Some(text(markup, "text/html"));
    }
    if inner
        .content
        .as_ref()
        .is_none_or(|c| c.body.as_deref().is_none_or(str::is_empty))
        && let Some(body) = &scan.body
    {
        inner.content = Some(fm::Content {
            body: Some(body.clone()),
            content_type: "text/html".parse().expect("a media type"),
            ..fm::Content::default()
        });
    }
    // Mixed content: feed-rs read nothing of it, or what came before the
    // first element.
    if let Some(mixed) = &scan.mixed_description
        && inner
            .summary
            .as_ref()
            .is_none_or(|s| s.content.trim().len() < mixed.len())
    {
        inner.summary = Some(text(mixed, "text/html"));
    }
    // A dc:description that holds the description and goes on is the
    // fuller text (feedparser shows the later of the two).
    if let Some(dc) = &scan.dc_description
        && let Some(summary) = &inner.summary
        && dc.trim().len() > summary.content.trim().len()
        && dc.contains(summary.content.trim())
    {
        inner.summary = Some(text(dc, "text/html"));
    }
    if inner.summary.as_ref().is_none_or(|s| s.content.trim().is_empty())
        && let Some(other) = &scan.other_text
    {
        inner.summary = Some(text(other, "text/html"));
    }
    // A podcast's itunes:summary longer than its description is its text,
    // as feedparser shows it.
    if inner.content.is_none()
        && let Some(long) = &scan.itunes_summary
        && inner
            .summary
            .as_ref()
            .is_none_or(|s| s.content.trim().len() < long.trim().len())
    {
        inner.content = Some(fm::Content {
            body: Some(plain_text_html(long)),
            content_type: "text/html".parse().expect("a media type"),
            ..fm::Content::default()
        });
    }
    // Atom content of a binary type is base64 (RFC 4287 §4.1.3.3).
    if let Some(c) = inner.content.as_mut()
        && is_base64_type(c.content_type.as_str())
        && let Some(body) = c.body.as_deref()
        && let Some(decoded) = decode_base64_text(body)
    {
        c.body = Some(decoded);
        c.content_type = "text/html".parse().expect("a media type");
    }
}

fn text(content: &str, media_type: &str) -> Text {
    Text {
        content_type: media_type.parse().expect("a media type"),
        src: None,
        content: content.trim().to_string(),
    }
}

/// The format an entry came in, where it changes how it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An RSS item's guid is its permalink by default.
    Rss,
    Atom,
    /// feed-rs gives a JSON Feed item's attachments as plain links, told
    /// apart from its `url` by their MIME type.
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_url_drops_tracking_fragment_and_case() {
        let u = canonical_url("HTTP://Example.ORG:80/a?id=3&utm_source=x&fbclid=y#top", None).unwrap();
        assert_eq!(u.as_str(), "http://example.org/a?id=3");
        let u = canonical_url("/b?utm_medium=rss", Some(&Url::parse("https://ex.org/x/").unwrap())).unwrap();
        assert_eq!(u.as_str(), "https://ex.org/b");
        assert!(canonical_url("javascript:alert(1)", None).is_none());
        assert!(canonical_url("mailto:a@b.c", None).is_none());
    }

    #[test]
    fn a_feed_names_its_websub_hub_and_topic_in_atom_rss_and_json_feed() {
        let url = Url::parse("https://thau.example/feed").unwrap();
        let cx = test_cx(&url);
        let docs: [&[u8]; 3] = [
            br#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:f</id>
                <link rel="hub" href="https://hub.example/"/><link rel="self" href="/feed"/></feed>"#,
            br#"<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>t</title>
                <atom:link rel="hub" href="https://hub.example/"/><atom:link rel="self" href="https://thau.example/feed"/>
                </channel></rss>"#,
            br#"{"version": "https://jsonfeed.org/version/1.1", "title": "t", "feed_url": "https://thau.example/feed",
                "hubs": [{"type": "WebSub", "url": "https://hub.example/"}], "items": []}"#,
        ];
        for doc in docs {
            let feed = parse(doc, &cx).unwrap();
            let what = String::from_utf8_lossy(&doc[..20]).into_owned();
            assert_eq!(
                feed.hub.as_ref().map(Url::as_str),
                Some("https://hub.example/"),
                "{what}"
            );
            assert_eq!(
                feed.self_url.as_ref().map(Url::as_str),
                Some("https://thau.example/feed"),
                "{what}"
            );
        }
    }

    #[test]
    fn hex_is_lowercase_two_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
    }

    #[test]
    fn html_titles_become_text() {
        assert_eq!(html_to_text("Fish &amp; <b>Chips</b> &lt;3"), "Fish & Chips <3");
        assert_eq!(html_to_text("<script>x()</script>Ok"), "Ok");
    }

    #[test]
    fn a_text_title_is_kept_as_written_where_the_format_says_it_is_text() {
        let atom = br#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:f</id>
            <entry><id>urn:a</id><title type="text">History of the &lt;blink&gt; tag</title></entry>
            <entry><id>urn:b</id><title type="html">Fish &amp;amp; &lt;b&gt;Chips&lt;/b&gt;</title></entry>
            <entry><id>urn:c</id><title>S&#232;te &amp;amp; M&amp;egrave;ze &lt;3</title></entry></feed>"#;
        let titles: Vec<String> = entries_of(atom).into_iter().map(|e| e.title).collect();
        assert_eq!(titles, ["History of the <blink> tag", "Fish & Chips", "Sète & Mèze <3"]);
        // RSS does not say: markup in a title is taken for HTML.
        let rss = br#"<rss version="2.0"><channel><title>t</title>
            <item><guid>g</guid><title>Fish &amp;amp; &lt;b&gt;Chips&lt;/b&gt;</title></item></channel></rss>"#;
        assert_eq!(entries_of(rss)[0].title, "Fish & Chips");
    }

    #[test]
    fn an_rss_item_with_only_a_permalink_guid_links_to_it() {
        let rss = br#"<rss version="2.0"><channel><title>t</title>
            <item><title>a</title><guid>https://Mairie.example/actus/42#top</guid></item>
            <item><title>b</title><guid isPermaLink="false">mairie-43</guid></item></channel></rss>"#;
        let entries = entries_of(rss);
        assert_eq!(entries[0].link.as_deref(), Some("https://mairie.example/actus/42"));
        assert_eq!(entries[1].link, None);
    }

    #[test]
    fn one_invalid_byte_in_utf8_is_replaced_not_read_as_windows_1252() {
        let doc = "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>t</title><item><guid>g</guid><title>Mèze et Sète \u{0}</title></item></channel></rss>"
            .replace('\u{0}', "BAD");
        let mut bytes = doc.into_bytes();
        let at = bytes.windows(3).position(|w| w == b"BAD").unwrap();
        bytes.splice(at..at + 3, [0xff]);
        assert_eq!(entries_of(&bytes)[0].title, "Mèze et Sète \u{fffd}");
        // A windows-1252 document without a declaration is still read as such.
        let latin = b"<rss version=\"2.0\"><channel><title>t</title><item><guid>g</guid><title>M\xe8ze</title></item></channel></rss>";
        assert_eq!(entries_of(latin)[0].title, "Mèze");
    }

    #[test]
    fn http_charset_overrides_the_declaration() {
        let latin1 = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>S\xe8te</title></channel></rss>";
        let out = decode(latin1, Some("text/xml; charset=ISO-8859-1"));
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.contains("<title>Sète</title>"), "{text}");
        assert!(text.starts_with(r#"<?xml version="1.0" encoding="utf-8"?>"#));
    }

    #[test]
    fn utf8_said_to_be_latin1_is_read_as_utf8() {
        let doc = "<?xml version='1.0' encoding='iso-8859-1'?><rss version=\"2.0\"><channel><item><guid>g</guid><title>Sète isn’t</title></item></channel></rss>";
        assert_eq!(entries_of(doc.as_bytes())[0].title, "Sète isn’t");
        let undeclared = doc.replace("<?xml version='1.0' encoding='iso-8859-1'?>", "");
        let out = decode(undeclared.as_bytes(), Some("application/rss+xml; charset=windows-1252"));
        assert!(std::str::from_utf8(&out).unwrap().contains("Sète isn’t"));
        // Latin-1 bytes stay Latin-1.
        let latin = b"<?xml version='1.0' encoding='iso-8859-1'?><rss version=\"2.0\"><channel><item><guid>g</guid><title>S\xe8te</title></item></channel></rss>";
        assert_eq!(entries_of(latin)[0].title, "Sète");
    }

    #[test]
    fn invalid_xml_base_is_neutralized() {
        let doc =
            br#"<feed xml:base="http://[bad/" xmlns="http://www.w3.org/2005/Atom"><entry xml:base='/ok/'/></feed>"#;
        let out = neutralize_invalid_xml_base(doc).unwrap();
        assert_eq!(
            out,
            br#"<feed xml:base="" xmlns="http://www.w3.org/2005/Atom"><entry xml:base='/ok/'/></feed>"#
        );
    }

    /// How the tests read a document fetched from `url` by source "s".
    pub(super) fn test_cx(url: &Url) -> DocContext<'_> {
        DocContext {
            source: "s",
            url: Some(url),
            content_type: None,
            timezone: None,
            max_entries: None,
            id_from: Default::default(),
        }
    }

    fn entries_of(doc: &[u8]) -> Vec<Entry> {
        let url = Url::parse("https://thau.example/feed").unwrap();
        let cx = test_cx(&url);
        let mut feed = parse(doc, &cx).unwrap();
        let raw = std::mem::take(&mut feed.entries);
        let now = DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        raw.into_iter().map(|r| r.finish(&feed, now)).collect()
    }

    #[test]
    fn atom_with_an_invalid_xml_base_is_still_ingested() {
        let doc = br#"<feed xmlns="http://www.w3.org/2005/Atom" xml:base="http://[::1"><title>t</title>
            <entry><id>urn:a</id><title>Still here</title><link href="https://ex.org/a"/></entry></feed>"#;
        assert!(
            parse_feed(doc, None).is_err(),
            "feed-rs no longer refuses this: drop the workaround"
        );
        assert_eq!(entries_of(doc)[0].title, "Still here");
    }

    #[test]
    fn windows_1252_atom_keeps_its_xml_base_and_dates() {
        let doc = b"<?xml version=\"1.0\" encoding=\"windows-1252\"?>\
            <feed xmlns=\"http://www.w3.org/2005/Atom\"><title>S\xe8te</title><id>urn:f</id>\
            <entry xml:base=\"https://mairie.example/actus/\"><id>urn:a</id><title>M\xe8ze</title>\
            <published>lun., 23 nov. 2026 18:00:00 CET</published>\
            <content type=\"html\">&lt;a href=\"conseil.html\"&gt;Conseil&lt;/a&gt;</content></entry></feed>";
        let e = &entries_of(doc)[0];
        assert_eq!(e.title, "M\u{e8}ze");
        assert!(
            e.content
                .as_deref()
                .unwrap()
                .contains("https://mairie.example/actus/conseil.html"),
            "{e:?}"
        );
        assert_eq!(e.published.to_rfc3339(), "2026-11-23T17:00:00+00:00");
    }

    #[test]
    fn a_web_page_says_which_feeds_it_announces() {
        let page = br#"<!doctype html><html><head>
            <link rel="stylesheet" href="/s.css">
            <link rel='alternate' type='application/rss+xml' href='https://mairie.example/rss'>
            <LINK REL="alternate" TYPE="application/atom+xml" HREF="atom.xml" title="Atom">
            <link rel="alternate" hreflang="en" href="/en/">
          </head><body>Accueil</body></html>"#;
        let url = Url::parse("https://mairie.example/actus/").unwrap();
        let cx = DocContext {
            source: "mairie",
            url: Some(&url),
            content_type: Some("text/html"),
            timezone: None,
            max_entries: None,
            id_from: Default::default(),
        };
        let error = parse(page, &cx).unwrap_err().to_string();
        assert_eq!(
            error,
            "not a feed but an HTML page; it links to these feeds: https://mairie.example/rss, https://mairie.example/actus/atom.xml"
        );
    }

    #[test]
    fn entity_expansion_bomb_stays_small() {
        let doc = br#"<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;"><!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;"><!ENTITY h "&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;">]>
            <rss version="2.0"><channel><title>bomb</title><item><title>&h;</title><link>https://ex.org/b</link></item></channel></rss>"#;
        let url = Url::parse("https://thau.example/feed").unwrap();
        let cx = DocContext {
            source: "s",
            url: Some(&url),
            content_type: None,
            timezone: None,
            max_entries: None,
            id_from: Default::default(),
        };
        // Either refused or kept unexpanded; never a 100 MB title.
        if let Ok(feed) = parse(doc, &cx) {
            for e in &feed.entries {
                assert!(e.inner.title.as_ref().is_none_or(|t| t.content.len() < 1000));
            }
        }
    }

    #[test]
    fn entry_without_guid_or_link_keeps_a_stable_id() {
        let doc = br#"<rss version="2.0"><channel><title>t</title><item><title>Conseil municipal</title><description>Ordre du jour</description></item></channel></rss>"#;
        let a = entries_of(doc);
        let b = entries_of(doc);
        assert_eq!(a[0].id, b[0].id);
        assert!(a[0].id.starts_with("urn:sha256:"), "{}", a[0].id);
        assert!(!a[0].dated);
    }

    #[test]
    fn guid_link_and_title_fallbacks() {
        let doc = r#"<rss version="2.0"><channel><title>t</title><link>https://site.example/</link>
            <item><guid>https://site.example/?p=1</guid><title>A &amp;amp; B</title></item>
            <item><link>/b?utm_source=x</link><description>Une longue description sans titre, qui sert de titre quand il manque, coupée proprement au mot</description></item>
            </channel></rss>"#;
        let e = entries_of(doc.as_bytes());
        assert_eq!(e[0].id, "https://site.example/?p=1");
        assert_eq!(e[0].key, "u:https://site.example/?p=1");
        assert_eq!(e[0].title, "A & B");
        assert_eq!(e[1].id, "https://thau.example/b");
        assert_eq!(
            e[1].title,
            "Une longue description sans titre, qui sert de titre quand il manque, coupée…"
        );
    }

    #[test]
    fn future_dates_are_published_and_only_implausible_ones_sort_as_now() {
        // (entries_of reads at 2026-11-25T12:00:00Z.)
        let doc = br#"<rss version="2.0"><channel><title>t</title>
            <item><guid>g</guid><title>x</title><pubDate>Fri, 01 Jan 2100 00:00:00 GMT</pubDate></item>
            <item><guid>h</guid><title>y</title><pubDate>Sat, 05 Dec 2026 20:30:00 GMT</pubDate></item></channel></rss>"#;
        let entries = entries_of(doc);
        let (far, soon) = (&entries[0], &entries[1]);
        assert!(far.dated && soon.dated);
        assert_eq!(far.published.to_rfc3339(), "2100-01-01T00:00:00+00:00");
        assert_eq!(far.sort_time().to_rfc3339(), "2026-11-25T12:00:00+00:00");
        assert_eq!(soon.published.to_rfc3339(), "2026-12-05T20:30:00+00:00");
        assert_eq!(soon.sort_time(), soon.published, "an agenda's event sorts by its date");
    }

    #[test]
    fn utf16_without_bom_and_versionless_rss_are_read() {
        let text = r#"<?xml version="1.0" encoding="utf-16"?><rss><channel><title>t</title><item><guid>g</guid><title>Mèze</title></item></channel></rss>"#;
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(entries_of(&be)[0].title, "Mèze");
    }

    // What readers read that feed-rs read otherwise (the fidelity classes
    // of CONFORMANCE.md), one test per class.

    #[test]
    fn of_several_alternates_the_page_is_the_link() {
        let doc = br#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><entry><id>urn:a</id><title>A</title>
            <link rel="alternate" type="application/pdf" href="https://ex.example/a.pdf"/>
            <link rel="alternate" type="text/html" href="https://ex.example/a.html"/></entry></feed>"#;
        assert_eq!(entries_of(doc)[0].link.as_deref(), Some("https://ex.example/a.html"));
    }

    #[test]
    fn of_two_guids_two_pubdates_two_titles_the_first_counts() {
        let doc = br#"<rss version="2.0"><channel><title>t</title><item>
            <title>Premier</title><title>Second</title>
            <guid>https://ex.example/permalink/1</guid><guid>https://ex.example/permalink/2</guid>
            <pubDate>Tue, 31 Dec 2002 14:20:20 GMT</pubDate><pubDate>Tue, 31 Dec 2002 06:15:07 GMT</pubDate>
            </item></channel></rss>"#;
        let e = &entries_of(doc)[0];
        assert_eq!(
            (e.title.as_str(), e.id.as_str()),
            ("Premier", "https://ex.example/permalink/1")
        );
        assert_eq!(e.link.as_deref(), Some("https://ex.example/permalink/1"));
        assert_eq!(e.published.to_rfc3339(), "2002-12-31T14:20:20+00:00");
    }

    #[test]
    fn rss2_under_a_userland_prefix_is_read() {
        let doc = br#"<r:rss xmlns:r="http://backend.userland.com/rss2" version="2.0"><r:channel><r:title>t</r:title>
            <r:item><r:title>Prefixed</r:title><r:link>https://ex.example/p</r:link></r:item></r:channel></r:rss>"#;
        assert_eq!(entries_of(doc)[0].title, "Prefixed");
    }

    #[test]
    fn rss1_items_inside_the_channel_or_without_a_link_are_kept_with_their_subjects() {
        let doc = r#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
            <channel rdf:about="https://ex.example/"><title>t</title><link>https://ex.example/</link>
            <item rdf:about="https://ex.example/1"><title>Dans le canal</title><link>https://ex.example/1</link></item></channel>
            <item rdf:about="https://ex.example/2"><title>Sans lien</title><dc:subject>Sète</dc:subject></item></rdf:RDF>"#;
        let e = entries_of(doc.as_bytes());
        let titles: Vec<&str> = e.iter().map(|e| e.title.as_str()).collect();
        assert_eq!(titles, ["Dans le canal", "Sans lien"]);
        assert_eq!(e[1].link.as_deref(), Some("https://ex.example/2"));
        assert_eq!(e[1].categories, ["Sète"]);
    }

    #[test]
    fn xml_base_on_an_rss_item_applies_to_its_link() {
        let doc = br#"<rss version="2.0"><channel><title>t</title><item xml:base="https://other.example/news/">
            <title>Based</title><link>story.html</link><guid isPermaLink="false">b1</guid></item></channel></rss>"#;
        assert_eq!(
            entries_of(doc)[0].link.as_deref(),
            Some("https://other.example/news/story.html")
        );
    }

    #[test]
    fn a_twelve_hour_date_is_read() {
        let doc = br#"<rss version="2.0"><channel><title>t</title><item><guid>d2</guid><title>NBC</title>
            <pubDate>Sat, Dec 16 2023 02:02:33 PM</pubDate></item></channel></rss>"#;
        let e = &entries_of(doc)[0];
        assert!(e.dated);
        assert_eq!(e.published.to_rfc3339(), "2023-12-16T14:02:33+00:00");
    }

    #[test]
    fn items_sharing_one_guid_stay_apart_with_keys_stable_across_polls() {
        let doc = br#"<rss version="2.0"><channel><title>t</title>
            <item><guid>https://agenda.example/</guid><title>Concert</title><link>https://agenda.example/concert</link></item>
            <item><guid>https://agenda.example/</guid><title>Expo</title><link>https://agenda.example/expo</link></item>
            <item><guid isPermaLink="false">same</guid><title>Marche</title><description>jeudi</description></item>
            <item><guid isPermaLink="false">same</guid><title>Marche</title><description>samedi</description></item>
            </channel></rss>"#;
        let first = entries_of(doc);
        let keys: Vec<&str> = first.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys.len(), 4, "{keys:?}");
        assert_eq!(
            keys[..2],
            ["u:https://agenda.example/concert", "u:https://agenda.example/expo"]
        );
        assert_ne!(keys[2], keys[3]);
        let again: Vec<String> = entries_of(doc).into_iter().map(|e| e.key).collect();
        assert_eq!(keys, again.iter().map(String::as_str).collect::<Vec<_>>());
    }

    #[test]
    fn an_rss1_description_is_html_as_in_rss2() {
        let doc =
            br#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
            <channel rdf:about="https://ex.example/"><title>t</title><link>https://ex.example/</link></channel>
            <item rdf:about="https://ex.example/1"><title>Debian</title><link>https://ex.example/1</link>
            <description>codename &lt;q&gt;bullseye&lt;/q&gt; &amp; more</description></item></rdf:RDF>"#;
        assert_eq!(
            entries_of(doc)[0].summary.as_deref(),
            Some("codename <q>bullseye</q> &amp; more")
        );
    }

    #[test]
    fn a_podcast_s_longer_itunes_summary_is_its_text() {
        let doc = br#"<rss version="2.0" xmlns:itunes="http://www.itunes.com/DTDs/Podcast-1.0.dtd"><channel><title>t</title>
            <item><guid>e1</guid><title>In Our Time</title><description>Melvyn Bragg and guests discuss...</description>
            <itunes:summary>Melvyn Bragg and guests discuss the man who, according to Machiavelli, ...</itunes:summary></item></channel></rss>"#;
        let e = &entries_of(doc)[0];
        assert_eq!(e.summary.as_deref(), Some("Melvyn Bragg and guests discuss..."));
        assert!(e.content.as_deref().unwrap().contains("according to Machiavelli"));
    }

    #[test]
    fn rss1_mixed_content_and_atom_base64_content_are_read() {
        let rss1 =
            br#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
            <channel rdf:about="https://ex.example/"><title>t</title><link>https://ex.example/</link></channel>
            <item rdf:about="https://ex.example/1"><title>Mixed</title><link>https://ex.example/1</link>
            <description><b>foo</b></description></item></rdf:RDF>"#;
        assert_eq!(entries_of(rss1)[0].summary.as_deref(), Some("<b>foo</b>"));
        let atom = br#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:f</id>
            <entry><id>urn:e</id><title>B</title><content type="application/octet-stream">RXhhbXBsZSA8Yj5BdG9tPC9iPg==</content></entry></feed>"#;
        assert_eq!(entries_of(atom)[0].content.as_deref(), Some("Example <b>Atom</b>"));
    }

    #[test]
    fn texts_of_modules_feed_rs_skips_are_read() {
        let doc = r#"<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:media="http://search.yahoo.com/mrss/" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>t</title>
            <item><guid>a</guid><title>DC</title><dc:description>Texte Dublin Core</dc:description></item>
            <item><guid>b</guid><title>Vidéo</title><media:group><media:description>Description YouTube</media:description></media:group></item>
            <item><guid>c</guid><title>Atom</title><atom:content type="html">&lt;p&gt;Contenu Atom&lt;/p&gt;</atom:content></item>
            </channel></rss>"#;
        let e = entries_of(doc.as_bytes());
        assert_eq!(e[0].summary.as_deref(), Some("Texte Dublin Core"));
        assert_eq!(e[1].summary.as_deref(), Some("Description YouTube"));
        assert_eq!(e[2].content.as_deref(), Some("<p>Contenu Atom</p>"));
    }

    /// Found by tests/fuzz.rs: ammonia's default schemes let `magnet:`,
    /// `ftp:`, `sms:`… links through.
    #[test]
    fn content_links_are_web_mail_or_phone_only() {
        let out = sanitize_html(
            r#"<a href="magnet:?xt=urn:x">m</a><a href="ftp://f.example/a">f</a><img src="sms:+33"><a href="tel:+33467000000">t</a><a href="mailto:mairie@meze.example">@</a>"#,
            None,
        );
        assert_eq!(
            out,
            r#"<a rel="noopener noreferrer">m</a><a rel="noopener noreferrer">f</a><img><a href="tel:+33467000000" rel="noopener noreferrer">t</a><a href="mailto:mairie@meze.example" rel="noopener noreferrer">@</a>"#
        );
    }

    #[test]
    fn sanitizer_removes_scripts_and_makes_urls_absolute() {
        let base = Url::parse("https://ex.org/news/").unwrap();
        let out = sanitize_html(
            r#"<p onclick="x()">Hi <a href="a.html">a</a><img src="/i.png"><script>bad()</script><a href="javascript:bad()">j</a></p><iframe src="x"></iframe>"#,
            Some(&base),
        );
        assert_eq!(
            out,
            r#"<p>Hi <a href="https://ex.org/news/a.html" rel="noopener noreferrer">a</a><img src="https://ex.org/i.png"><a rel="noopener noreferrer">j</a></p>"#
        );
    }
}
