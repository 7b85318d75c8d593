//! Pure: documents feed-rs refuses whole, repaired so that a problem in one
//! element costs that element, or at most its entry, never the feed. First
//! targeted repairs of what real feeds do (and feedparser reads): Media RSS
//! texts typed `text/html` or empty, Atom content with both `src` and a
//! body, a feed wrapped in an (X)HTML page, RSS of an unknown version or
//! without its `<channel>`. Then, if feed-rs still refuses, the tolerant
//! fallback: each entry is read on its own, with the document's feed-level
//! elements, and the entries feed-rs refuses are left out (and counted in a
//! warning the status page shows).

use super::*;

use std::ops::Range;
use std::sync::LazyLock;

use regex::bytes::{Captures, Regex};

/// The Media RSS namespace: matched by URI, whatever its prefix.
const MEDIA_RSS: &str = "http://search.yahoo.com/mrss/";

/// The prefixes `doc` binds to `uri`.
fn prefixes_of(doc: &[u8], uri: &str) -> Vec<String> {
    static XMLNS: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"xmlns:([\w.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')"#).expect("static regex"));
    XMLNS
        .captures_iter(doc)
        .filter(|c| c.get(2).or(c.get(3)).is_some_and(|v| v.as_bytes() == uri.as_bytes()))
        .map(|c| String::from_utf8_lossy(&c[1]).into_owned())
        .collect()
}

/// Media RSS `description`/`title`/`text` typed `text/html` or
/// `text/plain` (feed-rs knows `html` and `plain`), and empty ones (feed-rs
/// refuses those).
pub fn media_texts(doc: &[u8]) -> Option<Vec<u8>> {
    let mut out = doc.to_vec();
    let mut changed = false;
    for prefix in prefixes_of(doc, MEDIA_RSS) {
        let p = regex::escape(&prefix);
        let typed = Regex::new(&format!(
            r#"(<{p}:(?:description|title|text)\b[^>]*?\btype\s*=\s*)("text/html"|'text/html'|"text/plain"|'text/plain')"#
        ))
        .expect("escaped prefix");
        let empty = Regex::new(&format!(
            r#"<{p}:(?:description|title|text)\b[^>]*?(?:/>|>\s*</{p}:(?:description|title|text)\s*>)"#
        ))
        .expect("escaped prefix");
        let retyped = typed.replace_all(&out, |c: &Captures<'_>| {
            changed = true;
            let kind: &[u8] = if c[2].windows(4).any(|w| w == b"html") {
                b"\"html\""
            } else {
                b"\"plain\""
            };
            [&c[1], kind].concat()
        });
        let emptied = empty.replace_all(&retyped, |_: &Captures<'_>| {
            changed = true;
            Vec::new()
        });
        out = emptied.into_owned();
    }
    changed.then_some(out)
}

/// Atom content with both `src` and a body: the body is out of place
/// (RFC 4287 §4.1.3.2 says such content is empty) and feed-rs refuses the
/// feed; the reference stays.
pub fn content_src_with_body(doc: &[u8]) -> Option<Vec<u8>> {
    static SRC: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(?s)<((?:[\w.-]+:)?content)(\s[^>]*?\bsrc\s*=[^>]*?[^/])>(.*?)</((?:[\w.-]+:)?content)\s*>"#)
            .expect("static regex")
    });
    let mut changed = false;
    let out = SRC.replace_all(doc, |c: &Captures<'_>| {
        if c[1] != c[4] || c[3].iter().all(u8::is_ascii_whitespace) {
            return c[0].to_vec();
        }
        changed = true;
        [&b"<"[..], &c[1], &c[2], b"/>"].concat()
    });
    changed.then(|| out.into_owned())
}

/// A feed wrapped in an (X)HTML page (`<html><body><feed …>…</feed>`), as
/// some sites serve it and feedparser reads it: the feed element alone.
pub fn feed_in_page(doc: &[u8]) -> Option<Vec<u8>> {
    static ROOT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*|<!DOCTYPE[^>]*>\s*)*<html\b").expect("static regex")
    });
    if !ROOT.is_match(doc) {
        return None;
    }
    for (open, close) in [
        (&b"<feed"[..], &b"</feed>"[..]),
        (b"<rss", b"</rss>"),
        (b"<rdf:RDF", b"</rdf:RDF>"),
    ] {
        let start = memchr::memmem::find(doc, open)?;
        if !doc
            .get(start + open.len())
            .is_some_and(|b| b.is_ascii_whitespace() || *b == b'>')
        {
            continue;
        }
        let end = memchr::memmem::rfind(doc, close)? + close.len();
        if end <= start {
            continue;
        }
        let mut out = b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n".to_vec();
        out.extend_from_slice(&doc[start..end]);
        return Some(out);
    }
    None
}

/// RSS of a version feed-rs does not know (0.93, 0.94, 3.0…) read as 2.0,
/// and RSS whose items are not inside a `<channel>` given one.
pub fn rss_shape(doc: &[u8]) -> Option<Vec<u8>> {
    static RSS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"<rss\b([^>]*)>"#).expect("static regex"));
    static VERSION: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"\bversion\s*=\s*(?:"([^"]*)"|'([^']*)')"#).expect("static regex"));
    let m = RSS.captures(doc)?;
    let whole = m.get(0)?;
    let attrs = &m[1];
    let mut open = whole.as_bytes().to_vec();
    let mut changed = false;
    match VERSION.captures(attrs) {
        Some(v) => {
            let value = v.get(1).or(v.get(2)).map_or(&b""[..], |x| x.as_bytes());
            if !matches!(value, b"0.91" | b"0.92" | b"2.0" | b"2.00") {
                let new_attrs = VERSION.replace(attrs, &b"version=\"2.0\""[..]);
                open = [&b"<rss"[..], &new_attrs, b">"].concat();
                changed = true;
            }
        }
        None => {
            open = [&b"<rss version=\"2.0\""[..], attrs, b">"].concat();
            changed = true;
        }
    }
    let rest = &doc[whole.end()..];
    let has_channel = memchr::memmem::find(rest, b"<channel").is_some();
    let end = memchr::memmem::rfind(rest, b"</rss>");
    let mut out = Vec::with_capacity(doc.len() + 32);
    out.extend_from_slice(&doc[..whole.start()]);
    out.extend_from_slice(&open);
    match (has_channel, end) {
        (false, Some(end)) => {
            out.extend_from_slice(b"<channel>");
            out.extend_from_slice(&rest[..end]);
            out.extend_from_slice(b"</channel>");
            out.extend_from_slice(&rest[end..]);
            changed = true;
        }
        _ => out.extend_from_slice(rest),
    }
    changed.then_some(out)
}

/// An Atom feed as feedparser reads it when it is not quite Atom: a root
/// `<feed>` in another default namespace (or none) is Atom 1.0, and its
/// `<item>` children are entries.
pub fn atom_shape(doc: &[u8]) -> Option<Vec<u8>> {
    static FEED: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"<feed\b([^>]*)>"#).expect("static regex"));
    static XMLNS: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"\bxmlns\s*=\s*(?:"([^"]*)"|'([^']*)')"#).expect("static regex"));
    static ITEM: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"<(/?)item\b"#).expect("static regex"));
    const ATOM: &[u8] = b"http://www.w3.org/2005/Atom";
    let m = FEED.captures(doc)?;
    let whole = m.get(0)?;
    // Only the root: nothing but a declaration and comments before it.
    let before = String::from_utf8_lossy(&doc[..whole.start()]);
    let before = before.trim();
    if !(before.is_empty() || before.starts_with("<?xml") || before.starts_with("<!--")) || before.contains("<feed") {
        return None;
    }
    let attrs = &m[1];
    let mut open = whole.as_bytes().to_vec();
    let mut changed = false;
    match XMLNS.captures(attrs) {
        Some(ns) => {
            let uri = ns.get(1).or(ns.get(2)).map_or(&b""[..], |v| v.as_bytes());
            if uri != ATOM && uri != b"http://purl.org/atom/ns#" {
                open = [
                    &b"<feed"[..],
                    &XMLNS.replace(attrs, &b"xmlns=\"http://www.w3.org/2005/Atom\""[..]),
                    b">",
                ]
                .concat();
                changed = true;
            }
        }
        None => {
            open = [&b"<feed xmlns=\"http://www.w3.org/2005/Atom\""[..], attrs, b">"].concat();
            changed = true;
        }
    }
    let rest = &doc[whole.end()..];
    let items = ITEM.replace_all(rest, |c: &Captures<'_>| {
        changed = true;
        [&b"<"[..], &c[1], b"entry"].concat()
    });
    changed.then(|| [&doc[..whole.start()], &open, &items].concat())
}

/// A JSON Feed whose `version` says `http://jsonfeed.org/…` (not https),
/// which feed-rs refuses as an unknown version.
pub fn json_feed_version(doc: &[u8]) -> Option<Vec<u8>> {
    static VERSION: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#""version"\s*:\s*"http://jsonfeed\.org/version/"#).expect("static regex"));
    if doc.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return None;
    }
    let m = VERSION.find(doc)?;
    let fixed = String::from_utf8_lossy(m.as_bytes()).replace("http://", "https://");
    Some([&doc[..m.start()], fixed.as_bytes(), &doc[m.end()..]].concat())
}

/// The tolerant fallback: `doc` without the entries `parses` refuses, each
/// entry tried on its own with every feed-level element; None when the
/// feed-level elements alone are refused, or no entry is. Also says how
/// many entries were left out.
pub fn without_refused_entries<E>(
    doc: &[u8],
    items: &[Range<usize>],
    parses: impl Fn(&[u8]) -> Result<(), E>,
) -> Option<(Vec<u8>, usize, E)> {
    let first = items.first()?.start;
    // The document with no entry, and the place where they stood.
    let mut skeleton = Vec::with_capacity(doc.len());
    let mut at = 0;
    for item in items {
        skeleton.extend_from_slice(&doc[at..item.start]);
        at = item.end;
    }
    skeleton.extend_from_slice(&doc[at..]);
    parses(&skeleton).ok()?;
    let with = |kept: &[&Range<usize>]| {
        let mut out = Vec::with_capacity(skeleton.len() + kept.iter().map(|r| r.len()).sum::<usize>());
        out.extend_from_slice(&skeleton[..first]);
        for item in kept {
            out.extend_from_slice(&doc[(*item).clone()]);
        }
        out.extend_from_slice(&skeleton[first..]);
        out
    };
    let mut first_error = None;
    let mut kept: Vec<&Range<usize>> = Vec::with_capacity(items.len());
    for item in items {
        match parses(&with(&[item])) {
            Ok(()) => kept.push(item),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    // None refused: every entry reads alone, the trouble is elsewhere.
    let error = first_error?;
    Some((with(&kept), items.len() - kept.len(), error))
}

/// Second chances for documents feed-rs rejects but a reader would accept:
/// each fix that applies is kept and the document parsed again; when none
/// is enough, the entries feed-rs refuses are left out (the tolerant
/// fallback of [`repair`]). Returns the feed, the document it was read
/// from, and a warning when entries were left out.
pub(super) fn retry(bytes: &[u8], url: Option<&Url>) -> Option<(fm::Feed, Vec<u8>, Option<String>)> {
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

/// feed-rs rejects a whole feed when a text construct has a MIME type it
/// does not know (Atom 0.3's `application/xhtml+xml`, out-of-line
/// `application/octet-stream` content): name them as Atom 1.0 does.
pub(super) fn generic_text_types(bytes: &[u8]) -> Option<Vec<u8>> {
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
pub(super) fn base64_text_constructs(bytes: &[u8]) -> Option<Vec<u8>> {
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
pub(super) fn out_of_line_content_types(bytes: &[u8]) -> Option<Vec<u8>> {
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

/// Replaces `xml:base` values that are not URLs (which feed-rs refuses)
/// with empty ones (which it ignores). None when there were none.
pub(super) fn neutralize_invalid_xml_base(bytes: &[u8]) -> Option<Vec<u8>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn s(bytes: Option<Vec<u8>>) -> String {
        String::from_utf8(bytes.expect("repaired")).unwrap()
    }

    #[test]
    fn media_texts_are_retyped_or_dropped_whatever_their_prefix() {
        let doc = br#"<rss xmlns:m="http://search.yahoo.com/mrss/"><item><m:description type="text/html">&lt;b&gt;x&lt;/b&gt;</m:description><m:title/><m:text type='text/plain'>t</m:text></item></rss>"#;
        let out = s(media_texts(doc));
        assert!(out.contains(r#"<m:description type="html">"#), "{out}");
        assert!(out.contains(r#"<m:text type="plain">"#), "{out}");
        assert!(!out.contains("m:title"), "{out}");
        // Another namespace's description is left alone.
        assert!(media_texts(br#"<rss xmlns:m="urn:other"><m:description type="text/html"/></rss>"#).is_none());
    }

    #[test]
    fn content_with_src_loses_its_body() {
        let doc = br#"<entry><content src="http://x/a" type="pdf">
  <bogus/> text</content><content type="html">keep</content></entry>"#;
        let out = s(content_src_with_body(doc));
        assert!(out.contains(r#"<content src="http://x/a" type="pdf"/>"#), "{out}");
        assert!(out.contains(r#"<content type="html">keep</content>"#), "{out}");
    }

    #[test]
    fn a_feed_in_a_page_is_taken_out() {
        let doc = br#"<html xmlns="http://www.w3.org/1999/xhtml"><body><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title></feed></body></html>"#;
        let out = s(feed_in_page(doc));
        assert!(
            out.ends_with(r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title></feed>"#),
            "{out}"
        );
    }

    #[test]
    fn rss_of_another_version_or_without_a_channel_is_reshaped() {
        assert!(s(rss_shape(b"<rss version=\"0.93\"><channel></channel></rss>")).contains("version=\"2.0\""));
        let out = s(rss_shape(b"<rss><item><title>t</title></item></rss>"));
        assert_eq!(
            out,
            "<rss version=\"2.0\"><channel><item><title>t</title></item></channel></rss>"
        );
        assert!(rss_shape(b"<rss version=\"2.0\"><channel/></rss>").is_none());
    }

    #[test]
    fn an_atom_feed_in_another_namespace_or_with_items_is_atom() {
        let out = s(atom_shape(
            b"<!-- c --><feed xmlns=\"http://example.org\"><item><title>t</title></item></feed>",
        ));
        assert_eq!(
            out,
            "<!-- c --><feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><title>t</title></entry></feed>"
        );
        assert!(atom_shape(b"<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry/></feed>").is_none());
    }

    #[test]
    fn refused_entries_are_left_out_and_counted() {
        let doc = b"<feed><title>t</title><entry>1</entry><entry>BAD</entry><entry>3</entry></feed>";
        let at = |needle: &[u8]| {
            let start = memchr::memmem::find(doc, needle).unwrap();
            start..start + needle.len()
        };
        let items = [
            at(b"<entry>1</entry>"),
            at(b"<entry>BAD</entry>"),
            at(b"<entry>3</entry>"),
        ];
        let parses = |d: &[u8]| {
            if memchr::memmem::find(d, b"BAD").is_some() {
                Err(())
            } else {
                Ok(())
            }
        };
        let (out, left_out, ()) = without_refused_entries(doc, &items, parses).unwrap();
        assert_eq!(left_out, 1);
        assert_eq!(out, b"<feed><title>t</title><entry>1</entry><entry>3</entry></feed>");
    }
}
