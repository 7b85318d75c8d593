//! Pure: a fetched document → normalized entries. Decodes charsets feed-rs
//! misses, works around its traps (random ids, invalid `xml:base`), and
//! turns each entry into a stable record: id, canonical link, plain-text
//! title, sanitized HTML with absolute URLs, UTC dates. Depends on `model`.
//!
//! Two steps, so a re-poll can skip the costly one: [`parse`] yields
//! [`RawEntry`]s with their key and fingerprint; [`RawEntry::finish`]
//! sanitizes and builds the [`Entry`] only for what changed.

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
pub mod nesting;
mod repair;
mod rss1;
mod scan;

use scan::{EntryScan, scan_entries};

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

/// The most bytes of an entry's summary or content kept by default: far
/// above a long article's 50 KB, far below what makes a render costly.
pub const DEFAULT_MAX_TEXT: usize = 256 * 1024;

/// What ends a text cut at `max_entry_size`.
pub const CUT_MARK: &str = "<p>[…]</p>";

/// `html` cut to at most `max` bytes, before a tag (so no tag is cut in
/// half; the HTML parser closes what stays open), or as it is when short.
fn cut_html(html: &str, max: usize) -> Option<&str> {
    if html.len() <= max {
        return None;
    }
    let mut end = max;
    while !html.is_char_boundary(end) {
        end -= 1;
    }
    let head = &html[..end];
    // Before the last tag that may be cut, unless that would drop most of it.
    let end = match head.rfind('<') {
        Some(tag) if tag >= end / 2 => tag,
        _ => end,
    };
    Some(&html[..end])
}

/// One entry as the source gave it, with what identifies it already worked out.
#[derive(Debug)]
pub struct RawEntry {
    /// Store key (see [`Entry::key`]).
    pub key: String,
    pub id: String,
    pub guid: Option<String>,
    /// Canonical link.
    pub link: Option<Url>,
    /// Hash of everything the source said about this entry.
    pub fingerprint: String,
    /// The fragment of its link as written (`#update-3`): kept when it
    /// tells entries of one document apart.
    fragment: Option<String>,
    /// Its link is one many entries share (see [`Entry::generic_link`]).
    pub generic_link: bool,
    /// Its picture and a podcast's duration (see [`Entry::image`]).
    image: Option<String>,
    duration: Option<String>,
    base: Option<Url>,
    kind: Kind,
    inner: fm::Entry,
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
        Ok(feed) if feed.entries.is_empty() && !cap::item_spans(&decoded).is_empty() => {
            match retry(&decoded, cx.url) {
                Some((fixed, repaired, warning)) if !fixed.entries.is_empty() => Ok((fixed, Some((repaired, warning)))),
                _ => Ok((feed, None)),
            }
        }
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

fn looks_like_html(bytes: &[u8]) -> bool {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(0);
    let head = bytes[start..bytes.len().min(start + 15)].to_ascii_lowercase();
    head.starts_with(b"<!doctype html") || head.starts_with(b"<html")
}

/// The most feeds taken from a page's announcements: a page that lists
/// thousands costs no more than one that lists a few, and the error that
/// names them stays short.
pub const MAX_ANNOUNCED_FEEDS: usize = 8;

/// The feeds a web page announces (`<link rel="alternate" type="application/rss+xml" href>`,
/// Atom and JSON Feed alike), made absolute against the page's URL: the
/// first [`MAX_ANNOUNCED_FEEDS`].
fn discover_feeds(html: &[u8], page: Option<&Url>) -> Vec<String> {
    static LINK: LazyLock<regex::bytes::Regex> =
        LazyLock::new(|| regex::bytes::Regex::new(r"(?is)<link\b[^>]*>").expect("valid regex"));
    static ATTR: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
        regex::bytes::Regex::new(r#"(?is)([a-z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))"#).expect("valid regex")
    });
    // Attribute values are HTML: `&amp;` in an href is `&`.
    let unescape = |v: &str| quick_xml::escape::unescape(v).map_or_else(|_| v.to_string(), |u| u.into_owned());
    let mut feeds = Vec::new();
    for link in LINK.find_iter(html) {
        let (mut rel, mut kind, mut href) = (String::new(), String::new(), None);
        for a in ATTR.captures_iter(link.as_bytes()) {
            let value = a
                .get(2)
                .or(a.get(3))
                .or(a.get(4))
                .map_or("".into(), |v| String::from_utf8_lossy(v.as_bytes()));
            match a[1].to_ascii_lowercase().as_slice() {
                b"rel" => rel = value.to_ascii_lowercase(),
                b"type" => kind = value.trim().to_ascii_lowercase(),
                b"href" => href = Some(unescape(value.trim())),
                _ => {}
            }
        }
        let is_feed = matches!(
            kind.as_str(),
            "application/rss+xml" | "application/atom+xml" | "application/feed+json" | "application/json"
        );
        if rel.split_whitespace().any(|r| r == "alternate")
            && is_feed
            && let Some(url) = href.and_then(|h| http_url(&h, page))
            && !feeds.contains(&url.to_string())
        {
            feeds.push(url.to_string());
            if feeds.len() == MAX_ANNOUNCED_FEEDS {
                break;
            }
        }
    }
    feeds
}

/// The document in UTF-8, as quick-xml reads it: a legacy charset feed-rs
/// decoded itself (named in the XML declaration, else windows-1252) is
/// transcoded.
fn utf8(bytes: &[u8]) -> Cow<'_, [u8]> {
    if std::str::from_utf8(bytes).is_ok() {
        return Cow::Borrowed(bytes);
    }
    if let Some(text) = lenient_utf8(bytes) {
        return Cow::Owned(text.into_bytes());
    }
    let declared = xml_declaration(bytes)
        .and_then(declared_encoding)
        .and_then(|l| Encoding::for_label(l.as_bytes()));
    Cow::Owned(transcode(bytes, declared.unwrap_or(encoding_rs::WINDOWS_1252)))
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

/// Second chances for documents feed-rs rejects but a reader would accept:
/// each fix that applies is kept and the document parsed again; when none
/// is enough, the entries feed-rs refuses are left out (the tolerant
/// fallback of [`repair`]). Returns the feed, the document it was read
/// from, and a warning when entries were left out.
fn retry(bytes: &[u8], url: Option<&Url>) -> Option<(fm::Feed, Vec<u8>, Option<String>)> {
    type Fix = fn(&[u8]) -> Option<Vec<u8>>;
    const FIXES: [Fix; 11] = [
        repair::json_feed_version,
        legacy_charset,
        neutralize_invalid_xml_base,
        repair::rss_shape,
        repair::atom_shape,
        base64_text_constructs,
        generic_text_types,
        out_of_line_content_types,
        repair::media_texts,
        repair::content_src_with_body,
        repair::feed_in_page,
    ];
    let mut doc = Cow::Borrowed(bytes);
    for fix in FIXES {
        if let Some(fixed) = fix(&doc) {
            doc = Cow::Owned(fixed);
            if let Ok(feed) = parse_feed(&doc, url) {
                return Some((feed, doc.into_owned(), None));
            }
        }
    }
    let items = cap::item_spans(&doc);
    let (kept, left_out, error) = repair::without_refused_entries(&doc, &items, |d| parse_feed(d, url).map(drop))?;
    let feed = parse_feed(&kept, url).ok()?;
    let warning = format!(
        "{left_out} of {} entries could not be read and were left out (the first: {error})",
        items.len()
    );
    Some((feed, kept, Some(warning)))
}

/// A document that is not valid UTF-8 although it says it is (or says
/// nothing): UTF-8 with a few bad bytes stays UTF-8 (they become U+FFFD,
/// as browsers read it: one stray byte must not turn every `è` into
/// `Ã¨`); anything else is read as windows-1252, as browsers do.
fn legacy_charset(bytes: &[u8]) -> Option<Vec<u8>> {
    if std::str::from_utf8(bytes).is_ok() || Encoding::for_bom(bytes).is_some() {
        return None;
    }
    Some(match lenient_utf8(bytes) {
        Some(text) => text.into_bytes(),
        None => transcode(bytes, encoding_rs::WINDOWS_1252),
    })
}

/// `bytes` as UTF-8 with replacement characters, when they say they are
/// UTF-8 (or say nothing) and are mostly valid UTF-8: at least as many
/// well-formed multi-byte characters as broken sequences.
fn lenient_utf8(bytes: &[u8]) -> Option<String> {
    let declared = xml_declaration(bytes).and_then(declared_encoding);
    if declared.is_some_and(|d| !matches!(d.to_ascii_lowercase().as_str(), "utf-8" | "utf8")) {
        return None;
    }
    let (mut valid, mut broken) = (0usize, 0usize);
    for chunk in bytes.utf8_chunks() {
        valid += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        broken += usize::from(!chunk.invalid().is_empty());
    }
    (valid >= broken).then(|| String::from_utf8_lossy(bytes).into_owned())
}

/// feed-rs rejects a whole feed when a text construct has a MIME type it
/// does not know (Atom 0.3's `application/xhtml+xml`, out-of-line
/// `application/octet-stream` content): name them as Atom 1.0 does.
fn generic_text_types(bytes: &[u8]) -> Option<Vec<u8>> {
    static TYPED: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
        regex::bytes::Regex::new(r#"(<(?:[\w]+:)?(?:content|summary|title|subtitle|tagline|rights|copyright|info)\b[^>]*?\stype\s*=\s*)("[^"]*"|'[^']*')"#)
            .expect("static regex")
    });
    let mut changed = false;
    let out = TYPED.replace_all(bytes, |c: &regex::bytes::Captures<'_>| {
        let value = &c[2][1..c[2].len() - 1];
        if [&b"text"[..], b"html", b"xhtml"].contains(&value) {
            return c[0].to_vec();
        }
        changed = true;
        let kind: &[u8] = match value {
            b"text/html" => b"\"html\"",
            v if v.ends_with(b"xml") => b"\"xhtml\"",
            _ => b"\"text\"",
        };
        [&c[1], kind].concat()
    });
    changed.then(|| out.into_owned())
}

/// A text construct (title, summary…) typed with a binary MIME type holds
/// base64, as Atom content of such a type does (RFC 4287 §4.1.3.3):
/// decoded, as readers show it, and typed text.
fn base64_text_constructs(bytes: &[u8]) -> Option<Vec<u8>> {
    static TYPED: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
        regex::bytes::Regex::new(
            r#"(?s)<((?:[\w]+:)?(?:summary|title|subtitle|rights))(\s[^>]*?)\btype\s*=\s*("[^"]*"|'[^']*')([^>]*)>(.*?)</(?:[\w]+:)?(?:summary|title|subtitle|rights)\s*>"#,
        )
        .expect("static regex")
    });
    let mut changed = false;
    let out = TYPED.replace_all(bytes, |c: &regex::bytes::Captures<'_>| {
        let mime = String::from_utf8_lossy(&c[3][1..c[3].len() - 1]).to_ascii_lowercase();
        let body = String::from_utf8_lossy(&c[5]);
        let decoded = (is_base64_type(&mime) && !["text", "html", "xhtml"].contains(&mime.as_str()))
            .then(|| decode_base64_text(&body))
            .flatten();
        let Some(decoded) = decoded else {
            return c[0].to_vec();
        };
        changed = true;
        let name = String::from_utf8_lossy(&c[1]);
        format!(
            "<{name}{} type=\"text\"{}>{}</{name}>",
            String::from_utf8_lossy(&c[2]).trim_end(),
            String::from_utf8_lossy(&c[4]),
            escape_html(&decoded)
        )
        .into_bytes()
    });
    changed.then(|| out.into_owned())
}

/// Atom content given by reference (`src`) must name a MIME type; feed-rs
/// refuses the whole feed when it says `html`, `text` or `xhtml` instead.
fn out_of_line_content_types(bytes: &[u8]) -> Option<Vec<u8>> {
    static SRC: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
        regex::bytes::Regex::new(
            r#"<((?:\w+:)?content\b[^>]*\bsrc\s*=[^>]*?\btype\s*=\s*)("(?:html|text|xhtml)"|'(?:html|text|xhtml)')"#,
        )
        .expect("static regex")
    });
    let mut changed = false;
    let out = SRC.replace_all(bytes, |c: &regex::bytes::Captures<'_>| {
        changed = true;
        let mime: &[u8] = match &c[2][1..c[2].len() - 1] {
            b"html" => b"\"text/html\"",
            b"xhtml" => b"\"application/xhtml+xml\"",
            _ => b"\"text/plain\"",
        };
        [&b"<"[..], &c[1], mime].concat()
    });
    changed.then(|| out.into_owned())
}

/// The HTTP charset wins over the XML declaration (RFC 7303), a BOM over both.
/// Returns bytes feed-rs will decode right.
fn decode<'b>(bytes: &'b [u8], content_type: Option<&str>) -> Cow<'b, [u8]> {
    if let Some(utf8) = decode_utf32(bytes) {
        return Cow::Owned(utf8);
    }
    // UTF-16 without a BOM, recognised by how `<?` is spelled (XML 1.0
    // appendix F); feed-rs's reader cannot take it.
    match bytes {
        [0, b'<', 0, b'?', ..] => return Cow::Owned(transcode(bytes, encoding_rs::UTF_16BE)),
        [b'<', 0, b'?', 0, ..] => return Cow::Owned(transcode(bytes, encoding_rs::UTF_16LE)),
        _ => {}
    }
    match Encoding::for_bom(bytes) {
        // quick-xml has panicked on UTF-16 with a BOM: hand it UTF-8.
        Some((enc, bom)) if enc != encoding_rs::UTF_8 => {
            return Cow::Owned(transcode(&bytes[bom..], enc));
        }
        // A JSON Feed after a UTF-8 BOM: JSON has no BOM, feed-rs refuses it.
        Some((_, bom)) if bytes[bom..].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') => {
            return Cow::Borrowed(&bytes[bom..]);
        }
        Some(_) => return Cow::Borrowed(bytes),
        None => {}
    }
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return Cow::Borrowed(bytes);
    }
    let Some(http) = content_type
        .and_then(charset)
        .and_then(|l| Encoding::for_label(l.as_bytes()))
    else {
        return Cow::Borrowed(bytes);
    };
    let declared = xml_declaration(bytes)
        .and_then(declared_encoding)
        .and_then(|l| Encoding::for_label(l.as_bytes()));
    match declared {
        Some(d) if d == http => Cow::Borrowed(bytes),
        None if http == encoding_rs::UTF_8 => Cow::Borrowed(bytes),
        _ => Cow::Owned(transcode(bytes, http)),
    }
}

/// UTF-32 (which encoding_rs does not do), with or without a BOM.
fn decode_utf32(bytes: &[u8]) -> Option<Vec<u8>> {
    let big_endian = match bytes {
        [0, 0, 0xFE, 0xFF, ..] | [0, 0, 0, b'<', ..] => true,
        [0xFF, 0xFE, 0, 0, ..] | [b'<', 0, 0, 0, ..] => false,
        _ => return None,
    };
    let text: String = bytes
        .chunks_exact(4)
        .map(|c| {
            let unit = [c[0], c[1], c[2], c[3]];
            let n = if big_endian {
                u32::from_be_bytes(unit)
            } else {
                u32::from_le_bytes(unit)
            };
            char::from_u32(n).unwrap_or(char::REPLACEMENT_CHARACTER)
        })
        .filter(|c| *c != '\u{feff}')
        .collect();
    Some(transcode(text.as_bytes(), encoding_rs::UTF_8))
}

fn charset(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches(['"', '\'']))
    })
}

fn xml_declaration(bytes: &[u8]) -> Option<&[u8]> {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = &bytes[start..];
    if !rest.starts_with(b"<?xml") {
        return None;
    }
    let end = rest.windows(2).position(|w| w == b"?>")?;
    Some(&rest[..end + 2])
}

fn declared_encoding(declaration: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(declaration).ok()?;
    let at = text.find("encoding")?;
    let rest = text[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    Some(value[..value.find(quote)?].to_string())
}

/// Decodes `bytes` as `encoding` into UTF-8 and makes the XML declaration say so.
fn transcode(bytes: &[u8], encoding: &'static Encoding) -> Vec<u8> {
    let (text, _) = encoding.decode_without_bom_handling(bytes);
    let text = text.as_ref();
    let decl_len = xml_declaration(text.as_bytes()).map(|d| {
        let start = text.len() - text.trim_start().len();
        start + d.len()
    });
    match decl_len {
        Some(len) => {
            let mut out = String::with_capacity(text.len() + 40);
            out.push_str(r#"<?xml version="1.0" encoding="utf-8"?>"#);
            out.push_str(&text[len..]);
            out.into_bytes()
        }
        None => text.as_bytes().to_vec(),
    }
}

/// Replaces `xml:base` values that are not URLs (which feed-rs refuses)
/// with empty ones (which it ignores). None when there were none.
fn neutralize_invalid_xml_base(bytes: &[u8]) -> Option<Vec<u8>> {
    static XML_BASE: LazyLock<regex::bytes::Regex> =
        LazyLock::new(|| regex::bytes::Regex::new(r#"xml:base\s*=\s*(?:"([^"]*)"|'([^']*)')"#).expect("static regex"));
    let mut changed = false;
    let out = XML_BASE.replace_all(bytes, |c: &regex::bytes::Captures<'_>| {
        let value = c.get(1).or_else(|| c.get(2)).map(|m| m.as_bytes()).unwrap_or_default();
        let valid = matches!(
            std::str::from_utf8(value).map(Url::parse),
            Ok(Ok(_)) | Ok(Err(url::ParseError::RelativeUrlWithoutBase))
        );
        if valid {
            c[0].to_vec()
        } else {
            changed = true;
            b"xml:base=\"\"".to_vec()
        }
    });
    changed.then(|| out.into_owned())
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
        let root = e.link.as_ref().is_some_and(|l| matches!(l.path(), "" | "/") && l.query().is_none() && l.fragment().is_none());
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
    if let Some(markup) = &scan.content_markup {
        let c = inner.content.get_or_insert_with(fm::Content::default);
        c.body = Some(markup.clone());
        c.content_type = "text/html".parse().expect("a media type");
    }
    if let Some(markup) = &scan.summary_markup {
        inner.summary = Some(text(markup, "text/html"));
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
        inner.links.insert(0, fm::Link {
            href: href.clone(),
            rel: Some("alternate".into()),
            media_type: None,
            href_lang: None,
            title: None,
            length: None,
            target: None,
        });
    }
    for subject in &scan.subjects {
        if !subject.is_empty() && !inner.categories.iter().any(|c| c.term == *subject) {
            inner.categories.push(fm::Category::new(subject));
        }
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
        && inner.summary.as_ref().is_none_or(|s| s.content.trim().len() < mixed.len())
    {
        inner.summary = Some(text(mixed, "text/html"));
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
            body: Some(escape_html(long)),
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

/// A MIME type whose Atom content is base64: neither text nor XML.
fn is_base64_type(mime: &str) -> bool {
    let mime = mime.trim().to_ascii_lowercase();
    !(mime.starts_with("text/")
        || mime.ends_with("/xml")
        || mime.ends_with("+xml")
        || matches!(mime.as_str(), "html" | "xhtml" | "text" | ""))
}

/// Base64 that decodes to UTF-8 text.
fn decode_base64_text(body: &str) -> Option<String> {
    use base64::Engine;
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .ok()?;
    String::from_utf8(bytes).ok()
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

/// Whether a link feed-rs gives is an enclosure (podcast audio, images).
fn is_enclosure(link: &fm::Link, kind: Kind) -> bool {
    link.rel.as_deref() == Some("enclosure") || (kind == Kind::Json && link.rel.is_none() && link.media_type.is_some())
}

impl RawEntry {
    fn new(
        inner: fm::Entry,
        explicit_base: Option<Url>,
        doc_base: Option<&Url>,
        source: &str,
        kind: Kind,
        id_from: IdFrom,
    ) -> RawEntry {
        let rss = kind == Kind::Rss;
        let link_base = explicit_base.as_ref().or(doc_base);
        // Of several alternates (a PDF and a page), the page, as readers
        // pick it; else the first.
        let alternates: Vec<&fm::Link> = inner
            .links
            .iter()
            // (Not `<comments>`: feed-rs gives it as a link with a target.)
            .filter(|l| {
                matches!(l.rel.as_deref(), None | Some("alternate")) && l.target.is_none() && !is_enclosure(l, kind)
            })
            .collect();
        let is_page = |l: &fm::Link| {
            l.media_type
                .as_deref()
                .is_some_and(|t| matches!(t.trim(), "text/html" | "application/xhtml+xml"))
        };
        let chosen = alternates
            .iter()
            .filter(|l| is_page(l))
            .chain(alternates.iter().filter(|l| !is_page(l)))
            .find_map(|l| Some((canonical_url(&l.href, link_base)?, l.href.as_str())));
        let fragment = chosen
            .as_ref()
            .and_then(|(_, href)| http_url(href, link_base)?.fragment().map(str::to_owned))
            .filter(|f| !f.is_empty());
        let link = chosen
            .map(|(link, _)| link)
            // An item with only `<guid>https://…</guid>`: that is its link.
            .or_else(|| rss.then(|| canonical_url(inner.id.trim(), None)).flatten());
        let base = explicit_base.or_else(|| link.clone()).or_else(|| doc_base.cloned());
        let guid = Some(inner.id.trim()).filter(|g| !g.is_empty()).map(str::to_owned);
        let fingerprint = fingerprint(&inner);
        let (by_guid, by_link) = match id_from {
            IdFrom::Guid => (guid.as_ref(), link.as_ref()),
            IdFrom::Link => (None, link.as_ref()),
            IdFrom::Content => (None, None),
        };
        let (key, id) = match (by_guid, by_link) {
            (Some(g), _) => match canonical_url(g, None) {
                Some(u) => (format!("u:{u}"), g.clone()),
                None => (format!("g:{source}\n{g}"), g.clone()),
            },
            (None, Some(link)) => (format!("u:{link}"), link.to_string()),
            (None, None) => {
                let mut h = Sha256::new();
                if let Some(t) = &inner.title {
                    h.update(t.content.as_bytes());
                }
                h.update([0]);
                for text in [
                    inner.content.as_ref().and_then(|c| c.body.as_deref()),
                    inner.summary.as_ref().map(|s| s.content.as_str()),
                ]
                .into_iter()
                .flatten()
                {
                    h.update(text.as_bytes());
                }
                let hash = hex(&h.finalize()[..16]);
                (format!("h:{source}\n{hash}"), format!("urn:sha256:{hash}"))
            }
        };
        RawEntry {
            key,
            id,
            guid,
            link,
            fingerprint,
            fragment,
            generic_link: false,
            image: None,
            duration: None,
            base,
            kind,
            inner,
        }
    }

    /// Its link with the fragment that tells it apart from the other
    /// entries of its document that share the link (a live blog's
    /// `#update-3`): its link, key and id, when they were the link.
    fn keep_fragment(&mut self) {
        let (Some(link), Some(fragment)) = (self.link.as_mut(), self.fragment.as_deref()) else {
            return;
        };
        let before = link.to_string();
        link.set_fragment(Some(fragment));
        if self.key == format!("u:{before}") {
            self.key = format!("u:{link}");
        }
        if self.id == before {
            self.id = link.to_string();
        }
    }

    /// Its link is generic (a home page, a link many entries share): it is
    /// kept to show, but the entry is known by its guid or its text, not by
    /// the link.
    fn generic(&mut self, source: &str) {
        self.generic_link = true;
        let Some(link) = &self.link else { return };
        if self.key != format!("u:{link}") {
            return;
        }
        let mut h = Sha256::new();
        for text in [
            self.inner.title.as_ref().map(|t| t.content.as_str()),
            self.inner.summary.as_ref().map(|s| s.content.as_str()),
            self.inner.content.as_ref().and_then(|c| c.body.as_deref()),
        ]
        .into_iter()
        .flatten()
        {
            h.update(text.as_bytes());
            h.update([0]);
        }
        let hash = hex(&h.finalize()[..16]);
        self.key = format!("h:{source}\n{hash}");
        if self.id == link.as_str() {
            self.id = format!("urn:sha256:{hash}");
        }
    }

    /// Re-keys an entry whose guid another item of the same document has:
    /// by its link when it has one, else by a hash of its text.
    fn distinguish(&mut self) {
        let (key, id) = match &self.link {
            Some(link) if !self.key.ends_with(link.as_str()) => (format!("u:{link}"), link.to_string()),
            _ => {
                let mut h = Sha256::new();
                h.update(self.key.as_bytes());
                for text in [
                    self.inner.title.as_ref().map(|t| t.content.as_str()),
                    self.inner.summary.as_ref().map(|s| s.content.as_str()),
                    self.inner.content.as_ref().and_then(|c| c.body.as_deref()),
                ]
                .into_iter()
                .flatten()
                {
                    h.update(text.as_bytes());
                    h.update([0]);
                }
                let hash = hex(&h.finalize()[..8]);
                (format!("{}#{hash}", self.key), format!("{}#{hash}", self.id))
            }
        };
        self.key = key;
        self.id = id;
    }

    /// Builds the stored entry: sanitized HTML, plain-text title, UTC dates.
    /// An entry without a usable date is dated `now` (its first sighting).
    pub fn finish(self, feed: &ParsedFeed, now: DateTime<Utc>) -> Entry {
        let e = self.inner;
        let base = self.base.as_ref();
        // RSS never says a description is text: feed-rs calls an RSS 1.0
        // one text/plain, but publishers write entity-encoded HTML there
        // as in RSS 2.0.
        let rss = self.kind == Kind::Rss;
        // A text past `max_text` is cut before any parser sees it, and says so.
        let max = feed.max_text;
        let capped = |text: &str, clean: &dyn Fn(&str) -> String| match cut_html(text, max) {
            None => clean(text),
            Some(head) => clean(head) + CUT_MARK,
        };
        let summary = e
            .summary
            .as_ref()
            .map(|t| {
                if rss && t.content_type.as_str() == "text/plain" && holds_markup(&t.content) {
                    capped(&t.content, &|h| sanitize_html(h, base))
                } else if t.content_type.as_str() == "text/plain" {
                    capped(t.content.trim(), &escape_html)
                } else {
                    capped(&t.content, &|h| sanitize_html(h, base))
                }
            })
            .filter(|s| !s.is_empty());
        let content = e
            .content
            .as_ref()
            .and_then(|c| {
                let body = c.body.as_deref()?;
                Some(match c.content_type.as_str() {
                    "text/plain" => capped(body, &escape_html),
                    _ => capped(body, &|h| sanitize_html(h, base)),
                })
            })
            .filter(|s| !s.is_empty());
        let mut title = e
            .title
            .as_ref()
            .map(|t| text_of(t, feed.typed_text))
            .unwrap_or_default();
        if title.is_empty() {
            title = headline_from(summary.as_deref().or(content.as_deref()).unwrap_or_default());
        }

        // The source's dates as it gave them, future ones too (an agenda's
        // events): a date implausibly far ahead only sorts as the time it
        // was first seen (`Entry::sort_time`).
        let usable = |d: Option<DateTime<Utc>>| d;
        let source_published = usable(e.published).or(usable(e.updated));
        let published = source_published.unwrap_or(now);
        let updated = usable(e.updated).unwrap_or(published).max(published);

        let mut authors = people(&e.authors);
        if authors.is_empty() {
            authors = feed.authors.clone();
        }
        let categories = distinct_folded(e.categories.iter().map(|c| c.label.as_deref().unwrap_or(&c.term)));
        let mut enclosures: Vec<Enclosure> = Vec::new();
        let media = e.media.iter().flat_map(|m| &m.content).filter_map(|c| {
            Some(Enclosure {
                url: http_url(c.url.as_ref()?.as_str(), base)?.to_string(),
                media_type: c.content_type.as_ref().map(|t| t.to_string()),
                length: c.size,
            })
        });
        let kind = self.kind;
        let linked = e.links.iter().filter(|l| is_enclosure(l, kind)).filter_map(|l| {
            Some(Enclosure {
                url: http_url(&l.href, base)?.to_string(),
                media_type: l.media_type.clone(),
                length: l.length,
            })
        });
        for enc in media.chain(linked) {
            if !enclosures.iter().any(|x| x.url == enc.url) {
                enclosures.push(enc);
            }
        }

        let full_text = content.is_some();
        let mut entry = Entry {
            key: self.key,
            id: self.id,
            link: self.link.map(String::from),
            title,
            summary,
            content,
            published,
            updated,
            first_seen: now,
            dated: source_published.is_some(),
            generic_link: self.generic_link,
            image: self.image,
            duration: self.duration,
            authors,
            categories: categories.clone(),
            enclosures,
            language: e.language.or_else(|| feed.language.clone()),
            sources: vec![SourceRef {
                name: feed.source.clone(),
                guid: self.guid,
                feed_title: feed.title.clone(),
                feed_url: feed.feed_url.clone(),
                feed_updated: feed.updated,
                categories,
                fingerprint: self.fingerprint,
                full_text,
                updated: usable(e.updated).or(source_published),
            }],
        };
        xml_safe_entry(&mut entry);
        entry
    }
}

/// Whether XML 1.0 allows `c` in a document (§2.2): a JSON Feed's
/// `"a\u0001b"` or an `&#1;` would make every feed it reaches ill-formed.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `s` without the characters XML forbids (nothing copied when it has none).
pub fn xml_safe(s: &mut String) {
    if !s.chars().all(xml_char) {
        s.retain(xml_char);
    }
}

/// Every text of `entry` that is published, XML-safe.
fn xml_safe_entry(entry: &mut Entry) {
    xml_safe(&mut entry.id);
    xml_safe(&mut entry.title);
    for text in [&mut entry.summary, &mut entry.content, &mut entry.language]
        .into_iter()
        .flatten()
    {
        xml_safe(text);
    }
    for person in &mut entry.authors {
        xml_safe(&mut person.name);
        if let Some(email) = &mut person.email {
            xml_safe(email);
        }
    }
    for category in &mut entry.categories {
        xml_safe(category);
    }
    for source in &mut entry.sources {
        for text in [&mut source.guid, &mut source.feed_title].into_iter().flatten() {
            xml_safe(text);
        }
        for category in &mut source.categories {
            xml_safe(category);
        }
    }
    entry.categories.retain(|c| !c.is_empty());
}

fn fingerprint(e: &fm::Entry) -> String {
    let mut h = Sha256::new();
    let mut field = |s: &str| {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    field(e.title.as_ref().map_or("", |t| &t.content));
    field(e.summary.as_ref().map_or("", |t| &t.content));
    field(e.content.as_ref().and_then(|c| c.body.as_deref()).unwrap_or(""));
    for l in &e.links {
        field(&l.href);
    }
    field(&e.published.map(|d| d.to_rfc3339()).unwrap_or_default());
    field(&e.updated.map(|d| d.to_rfc3339()).unwrap_or_default());
    for c in &e.categories {
        field(&c.term);
    }
    for a in &e.authors {
        field(a.name.as_deref().unwrap_or_default());
    }
    for m in e.media.iter().flat_map(|m| &m.content) {
        field(m.url.as_ref().map_or("", |u| u.as_str()));
    }
    hex(&h.finalize()[..16])
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

fn people(persons: &[fm::Person]) -> Vec<Person> {
    persons
        .iter()
        .filter_map(|p| {
            let name = p.name.as_deref().unwrap_or_default().trim();
            // RSS's "email@example.org (Name)": feed-rs keeps the parentheses.
            let name = name
                .strip_prefix('(')
                .and_then(|n| n.strip_suffix(')'))
                .unwrap_or(name)
                .trim();
            let email = p.email.as_deref().map(str::trim).filter(|s| !s.is_empty());
            let name = if name.is_empty() { email? } else { name };
            Some(Person {
                name: collapse_whitespace(name),
                email: email.map(str::to_owned),
                uri: p.uri.as_deref().and_then(author_uri),
            })
        })
        .collect()
}

/// An author's page or address: http(s) or mailto only.
fn author_uri(uri: &str) -> Option<String> {
    let url = Url::parse(uri.trim()).ok()?;
    matches!(url.scheme(), "http" | "https" | "mailto").then(|| url.to_string())
}

/// Query parameters that only track readers; they make one story look like many.
const TRACKING_PARAMS: &[&str] = &[
    "fbclid",
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "yclid",
    "twclid",
    "igshid",
    "mc_cid",
    "mc_eid",
    "_hsenc",
    "_hsmi",
    "mkt_tok",
    "oly_anon_id",
    "oly_enc_id",
    "vero_id",
    "vero_conv",
    "wt_mc",
    "xtor",
];

/// An absolute http(s) URL: resolved against `base`, fragment dropped, host
/// lowercased, default port dropped, tracking parameters removed.
pub fn canonical_url(href: &str, base: Option<&Url>) -> Option<Url> {
    let mut url = http_url(href, base)?;
    if url.fragment().is_some_and(|f| !identifying_fragment(f)) {
        url.set_fragment(None);
    }
    if url.query().is_some() {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| {
                let k = k.to_ascii_lowercase();
                !k.starts_with("utm_") && !TRACKING_PARAMS.contains(&k.as_str())
            })
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let before = url.query_pairs().count();
        if kept.is_empty() {
            url.set_query(None);
        } else if kept.len() != before {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    Some(url)
}

/// Whether a link's fragment names an entry of its page (a live blog's
/// `#update-3`, a forum's `#post-1234`) rather than a place in it
/// (`#comments`, `#more-123`, `#top`) or tracking (`#xtor=RSS-3`,
/// AddThis's `#.UxYz`): such a fragment is part of the story's address.
fn identifying_fragment(fragment: &str) -> bool {
    static PLACE: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(
            r"(?i)^(?:comments?|commentaires?|respond|reply|reponse|réponse|more(?:-\d+)?|top|haut|content|contenu|main|article|story|page|disqus_thread|comment-\d+|share|partage|read-?more|lire-la-suite|continue|suite|footer|header|nav|menu)$",
        )
        .expect("static regex")
    });
    let fragment = fragment.trim();
    !(fragment.is_empty() || fragment.contains('=') || fragment.starts_with('.') || PLACE.is_match(fragment))
}

fn http_url(href: &str, base: Option<&Url>) -> Option<Url> {
    let href = href.trim();
    if href.is_empty() {
        return None;
    }
    let url = match base {
        Some(base) => base.join(href).ok()?,
        None => Url::parse(href).ok()?,
    };
    matches!(url.scheme(), "http" | "https").then_some(url)
}

/// Plain text of a text construct: markup removed, entities decoded,
/// whitespace collapsed. A title typed as text (`typed`: Atom, JSON Feed)
/// is kept as written ("History of the <blink> tag"); RSS titles are often
/// escaped HTML without saying so, so there anything that looks like markup
/// is treated as HTML.
fn text_of(t: &Text, typed: bool) -> String {
    let s = t.content.as_str();
    if t.content_type.as_str() != "text/plain" || (!typed && text_looks_like_html(s)) {
        return collapse_whitespace(&html_to_text(s));
    }
    if typed && s.contains('&') {
        // Text escaped twice ("Sète &amp;amp; Mèze" in the XML) is common
        // enough: decode what looks like entities, keep what looks like tags.
        return collapse_whitespace(&html_to_text(&s.replace('<', "&lt;").replace('>', "&gt;")));
    }
    collapse_whitespace(s)
}

/// Whether an untyped title (RSS says nothing) is HTML, as feedparser
/// decides it: it has an end tag or an entity, and every tag in it is an
/// HTML element. `Vector<T> in Rust`, `Nice <gorilla>` and `A<B` are text:
/// the `<` the source escaped stays visible.
fn text_looks_like_html(s: &str) -> bool {
    static END_OR_ENTITY: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"</[A-Za-z][A-Za-z0-9]*\s*>|&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
            .expect("static regex")
    });
    static TAG: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"</?([A-Za-z][A-Za-z0-9]*)").expect("static regex"));
    END_OR_ENTITY.is_match(s)
        && TAG
            .captures_iter(s)
            .all(|c| HTML_ELEMENTS.contains(&c[1].to_ascii_lowercase().as_str()))
}

/// HTML elements a title may hold (feedparser's sanitizer's list).
const HTML_ELEMENTS: &[&str] = &[
    "a", "abbr", "acronym", "address", "area", "article", "aside", "audio", "b", "bdi", "bdo", "big", "blink",
    "blockquote", "body", "br", "button", "canvas", "caption", "center", "cite", "code", "col", "colgroup",
    "command", "datagrid", "datalist", "dd", "del", "details", "dfn", "dialog", "dir", "div", "dl", "dt", "em",
    "event-source", "fieldset", "figcaption", "figure", "font", "footer", "form", "h1", "h2", "h3", "h4", "h5",
    "h6", "header", "hr", "html", "i", "img", "input", "ins", "kbd", "keygen", "label", "legend", "li", "m", "map",
    "mark", "menu", "meter", "multicol", "nav", "nextid", "noscript", "ol", "optgroup", "option", "output", "p",
    "pre", "progress", "q", "s", "samp", "section", "select", "small", "sound", "source", "spacer", "span",
    "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td", "textarea", "tfoot", "th", "thead",
    "time", "tr", "tt", "u", "ul", "var", "video", "wbr",
];

/// Whether untyped text holds markup: a whole tag (`<b>`, `</p>`, `<br/>`)
/// or an entity (`&amp;`, `&#233;`); `A<B` and `Fish & Chips` are text.
fn holds_markup(s: &str) -> bool {
    static MARKUP: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"<[A-Za-z/!][^<>]*>|&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
            .expect("static regex")
    });
    MARKUP.is_match(s)
}

pub fn html_to_text(html: &str) -> String {
    static TEXT_ONLY: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
        let mut b = ammonia::Builder::empty();
        b.clean_content_tags(["script", "style", "title"].into_iter().collect());
        b
    });
    let escaped = TEXT_ONLY.clean(&nesting::bound(html)).to_string();
    unescape_serialized(&escaped)
}

/// Undoes the escaping html5ever's serializer applies to text.
fn unescape_serialized(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A title for an untitled entry: the start of its text, cut at a word.
fn headline_from(html: &str) -> String {
    let text = collapse_whitespace(&html_to_text(html));
    if text.chars().count() <= 80 {
        return text;
    }
    let cut: String = text.chars().take(80).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{cut}…")
}

thread_local! {
    /// The base the HTML being sanitized on this thread resolves against.
    static HTML_BASE: RefCell<Option<Url>> = const { RefCell::new(None) };
}

/// [`sanitize_html`] of at most `max` bytes of `html` (cut as entries'
/// texts are, marked with [`CUT_MARK`]).
pub fn sanitize_capped(html: &str, base: Option<&Url>, max: usize) -> String {
    match cut_html(html, max) {
        None => sanitize_html(html, base),
        Some(head) => sanitize_html(head, base) + CUT_MARK,
    }
}

/// Hosts and paths of known tracking beacons (feed readers' "web bugs").
const BEACONS: &[&str] = &[
    "feeds.feedburner.com/~r/",
    "feeds.feedburner.com/~ff/",
    "feedproxy.google.com/~r/",
    "feeds.feedblitz.com/~/i/",
    "pixel.wp.com/",
    "stats.wordpress.com/",
    "www.google-analytics.com/",
    "pixel.quantserve.com/",
    "pi.feedsportal.com/",
    "ad.doubleclick.net/",
    "rss.buysellads.com/",
    "feeds.wordpress.com/1.0/",
];

/// Whether an `<img>` tag is a tracking pixel: 1×1 (or 0) by its
/// `width`/`height`, or from a known beacon. Never a story's picture.
pub fn is_tracking_pixel(tag: &str) -> bool {
    static ATTR: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r#"(?i)\b(width|height|src)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))"#).expect("static regex")
    });
    let (mut tiny_w, mut tiny_h, mut beacon) = (false, false, false);
    for c in ATTR.captures_iter(tag) {
        let value = c.get(2).or(c.get(3)).or(c.get(4)).map_or("", |v| v.as_str()).trim();
        let tiny = matches!(value.trim_end_matches("px"), "0" | "1");
        match c[1].to_ascii_lowercase().as_str() {
            "width" => tiny_w = tiny,
            "height" => tiny_h = tiny,
            _ => {
                let address = value.split_once("//").map_or(value, |(_, rest)| rest).to_ascii_lowercase();
                beacon = BEACONS.iter().any(|b| address.starts_with(b));
            }
        }
    }
    beacon || (tiny_w && tiny_h)
}

/// `html` without its tracking pixels.
fn without_tracking_pixels(html: &str) -> Cow<'_, str> {
    static IMG: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"(?i)<img\b[^>]*>").expect("static regex"));
    if !html.contains("<img") && !html.contains("<IMG") {
        return Cow::Borrowed(html);
    }
    IMG.replace_all(html, |c: &regex::Captures<'_>| {
        if is_tracking_pixel(&c[0]) { String::new() } else { c[0].to_string() }
    })
}

/// Presentation MathML, kept in sanitized HTML (formulas in scientific
/// feeds): the elements only, no `href`, no `<maction>`.
const MATHML: [&str; 31] = [
    "math", "mi", "mn", "mo", "ms", "mtext", "mspace", "mrow", "mfrac", "msqrt", "mroot", "mstyle", "merror",
    "mpadded", "mphantom", "mfenced", "menclose", "msub", "msup", "msubsup", "munder", "mover", "munderover",
    "mmultiscripts", "mprescripts", "none", "mtable", "mtr", "mtd", "semantics", "annotation",
];

/// Sanitizes HTML with ammonia (no script, style, iframe, event handlers or
/// `javascript:` URLs), making every relative `href`/`src` absolute against
/// `base`, or dropping it when there is no base to resolve it against.
pub fn sanitize_html(html: &str, base: Option<&Url>) -> String {
    // One builder for every base (building one costs more than cleaning a
    // short summary); the base is handed over through a thread-local.
    static HTML: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
        let mut b = ammonia::Builder::default();
        // Links readers can follow safely: the web, mail and phone numbers
        // (a town hall's). Not ammonia's longer default list (ftp, irc,
        // magnet, sms…).
        b.url_schemes(["http", "https", "mailto", "tel"].into_iter().collect());
        b.url_relative(ammonia::UrlRelative::Custom(Box::new(absolute)));
        // MathML a reader sees (presentation markup: no links, no scripts).
        b.add_tags(MATHML);
        b.add_generic_attributes(["mathvariant", "display", "displaystyle", "stretchy", "fence", "separator", "accent"]);
        // ammonia checks the schemes of href and src, not of `cite`
        // (blockquote, q, del, ins): made absolute http(s), or dropped.
        b.attribute_filter(|_, attribute, value| match attribute {
            "cite" => absolute(value).map(|v| Cow::Owned(v.into_owned())),
            _ => Some(Cow::Borrowed(value)),
        });
        b
    });
    fn absolute(relative: &str) -> Option<Cow<'_, str>> {
        // What leaves here is not checked again by ammonia: only http(s).
        HTML_BASE.with_borrow(|base| Some(Cow::Owned(http_url(relative, base.as_ref())?.into())))
    }
    let html = html.trim();
    if !html.contains(['<', '&']) {
        // Plain text: nothing to clean, and html5ever's set-up is the
        // larger part of cleaning a short summary.
        return escape_html(html);
    }
    HTML_BASE.set(base.filter(|b| matches!(b.scheme(), "http" | "https")).cloned());
    let html = without_tracking_pixels(html);
    let clean = HTML.clean(&nesting::bound(&html)).to_string();
    HTML_BASE.set(None);
    clean.trim().to_string()
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
#[cfg(test)]
mod sanitizer_tests {
    #[test]
    fn tracking_pixels_leave_and_pictures_stay() {
        let html = r#"<p>Texte</p><img src="https://feeds.feedburner.com/~r/x/~4/abc" height="1" width="1" alt=""><img src="https://pixel.wp.com/b.gif?x=1"><img src="https://x.example/a.gif" width="1" height="1"><img src="https://x.example/photo.jpg" width="640" height="1">"#;
        let out = super::sanitize_html(html, None);
        assert!(!out.contains("feedburner") && !out.contains("pixel.wp.com") && !out.contains("a.gif"), "{out}");
        assert!(out.contains("photo.jpg"), "{out}");
    }

    #[test]
    fn mathml_is_kept() {
        let html = r#"<p>Aire : <math xmlns="http://www.w3.org/1998/Math/MathML"><mi>π</mi><msup><mi>r</mi><mn>2</mn></msup></math></p><math><maction actiontype="toggle"><mi>x</mi></maction></math>"#;
        let out = super::sanitize_html(html, None);
        assert!(out.contains("<math") && out.contains("<msup><mi>r</mi><mn>2</mn></msup>"), "{out}");
        assert!(!out.contains("maction"), "{out}");
    }
}
