//! Feeds in namespaces feed-rs does not know, rewritten into ones it reads.
//! feed-rs 3.0 matches elements by namespace and silently skips the rest, so
//! each of these came out with no entries at all. Pure.
//!
//! - Atom 0.3 (`http://purl.org/atom/ns#`; 351 of the corpus's documents) →
//!   Atom 1.0, with the elements and attributes renamed in 1.0: `issued` →
//!   `published`, `modified` → `updated`, `tagline` → `subtitle`,
//!   `copyright` → `rights`, a person's `url` → `uri`, text constructs' MIME
//!   `type` (`text/html`) → `html`, their `mode` dropped (a `base64` one
//!   decoded).
//! - RSS 0.90 (Netscape's RDF namespace) → RSS 1.0, its RDF successor with
//!   the same element names.
//! - RSS 2.0 in UserLand's namespace (`http://backend.userland.com/rss2`,
//!   still served by some news sites), as the default namespace or under a
//!   prefix (`<r:rss xmlns:r="…">`) → RSS 2.0 without a namespace.
//! - Atom 1.0's namespace with the wrong case → the right one.
//!
//! Everything else is copied as it was.

use std::borrow::Cow;

use quick_xml::Writer;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};

const ATOM_03: &str = "http://purl.org/atom/ns#";
const ATOM_10: &str = "http://www.w3.org/2005/Atom";
/// RSS 0.90's namespace, as the spec wrote it and as Netscape's own feed did.
const RSS_090: [&str; 2] = [
    "http://my.netscape.com/rdf/simple/0.9/",
    "http://channel.netscape.com/rdf/simple/0.9/",
];
const RSS_10: &str = "http://purl.org/rss/1.0/";
const USERLAND: [&str; 2] = ["http://backend.userland.com/rss2", "http://backend.userland.com/rss"];

/// Whether `xml` may declare one of the namespaces rewritten here: a quick
/// test before [`upgrade`], which needs UTF-8. Namespaces are declared on
/// the root element, so only the head of the document is searched.
pub fn may_apply(xml: &[u8]) -> bool {
    let head = &xml[..xml.len().min(4096)];
    let finder = |needle: &str| memchr::memmem::find(head, needle.as_bytes()).is_some();
    finder("purl.org/atom/ns#")
        || finder("netscape.com/rdf/simple/0.9")
        || finder("backend.userland.com/rss")
        || finder("w3.org/2005/atom")
}

/// What a namespace URI becomes: None when it stays.
fn replacement(uri: &str) -> Option<Option<&'static str>> {
    match uri {
        ATOM_03 => Some(Some(ATOM_10)),
        u if RSS_090.contains(&u) => Some(Some(RSS_10)),
        u if USERLAND.contains(&u) => Some(None),
        u if u != ATOM_10 && u.eq_ignore_ascii_case(ATOM_10) => Some(Some(ATOM_10)),
        _ => None,
    }
}

/// The document (UTF-8) with its legacy namespaces replaced; None when it
/// declares none or cannot be read.
pub fn upgrade(xml: &[u8]) -> Option<Vec<u8>> {
    if !may_apply(xml) {
        return None;
    }
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut writer = Writer::new(Vec::with_capacity(xml.len() + 64));
    // Prefixes bound to the Atom 0.3 namespace ("" for the default one),
    // and to UserLand's (dropped from element names).
    let mut prefixes = Prefixes::default();
    let mut replaced = false;
    // Inside an Atom 0.3 text construct whose mode is base64.
    let mut base64 = false;
    loop {
        let event = match reader.read_event().ok()? {
            Event::Start(e) => {
                base64 = is_base64(&e, &prefixes);
                Event::Start(start(&e, &mut prefixes, &mut replaced)?)
            }
            Event::Empty(e) => Event::Empty(start(&e, &mut prefixes, &mut replaced)?),
            Event::Text(t) if base64 => {
                use base64::Engine;
                let encoded: String = t.chars().filter(|c| !c.is_whitespace()).collect();
                match base64::engine::general_purpose::STANDARD.decode(encoded.as_bytes()) {
                    Ok(bytes) => Event::Text(BytesText::new(&String::from_utf8_lossy(&bytes)).into_owned()),
                    Err(_) => Event::Text(t),
                }
            }
            Event::End(e) => {
                base64 = false;
                let qualified = e.name();
                Event::End(BytesEnd::new(renamed(qualified.as_ref(), &prefixes).into_owned()))
            }
            Event::Eof => break,
            other => other,
        };
        writer.write_event(event).ok()?;
    }
    replaced.then(|| writer.into_inner())
}

/// An Atom 0.3 element whose text is base64 (`mode="base64"`).
fn is_base64(element: &BytesStart<'_>, prefixes: &Prefixes) -> bool {
    let name = element.name();
    let (prefix, _) = name.as_ref().split_once(':').unwrap_or(("", ""));
    prefixes.atom_03.iter().any(|p| p == prefix)
        && element
            .try_get_attribute("mode")
            .ok()
            .flatten()
            .is_some_and(|a| a.value.trim().eq_ignore_ascii_case("base64"))
}

#[derive(Default)]
struct Prefixes {
    atom_03: Vec<String>,
    userland: Vec<String>,
}

fn start(element: &BytesStart<'_>, prefixes: &mut Prefixes, replaced: &mut bool) -> Option<BytesStart<'static>> {
    // Namespace declarations first: they may bind this element's own prefix.
    for attr in element.attributes().with_checks(false) {
        let attr = attr.ok()?;
        let key = attr.key.as_ref();
        if key == "xmlns" || key.starts_with("xmlns:") {
            let prefix = key
                .strip_prefix("xmlns")
                .unwrap_or_default()
                .trim_start_matches(':')
                .to_string();
            if attr.value.as_ref() == ATOM_03 {
                prefixes.atom_03.push(prefix);
            } else if USERLAND.contains(&attr.value.as_ref()) && !prefix.is_empty() {
                prefixes.userland.push(prefix);
            }
        }
    }
    let qualified = element.name();
    let in_atom_03 = {
        let (prefix, _) = qualified.as_ref().split_once(':').unwrap_or(("", ""));
        prefixes.atom_03.iter().any(|p| p == prefix)
    };
    let name = renamed(qualified.as_ref(), prefixes);
    let text_construct = matches!(local(&name), "title" | "subtitle" | "summary" | "content" | "rights");
    let mut out = BytesStart::new(name.into_owned());
    for attr in element.attributes().with_checks(false) {
        let attr = attr.ok()?;
        let key = attr.key.as_ref().to_string();
        let value = attr.value.as_ref();
        let declaration = key == "xmlns" || key.starts_with("xmlns:");
        match (key.as_str(), declaration.then(|| replacement(value)).flatten()) {
            (k, Some(uri)) => {
                *replaced = true;
                match uri {
                    Some(uri) => out.push_attribute((k, uri)),
                    // A prefix bound to UserLand's namespace stays bound.
                    None if k != "xmlns" => out.push_attribute((k, value)),
                    None => {}
                }
            }
            // Attributes of Atom 0.3 elements only.
            ("mode" | "version", _) if in_atom_03 => {}
            ("type", _) if in_atom_03 && text_construct => out.push_attribute(("type", text_type(value))),
            (_, None) => out.push_attribute(Attribute {
                key: attr.key,
                value: Cow::Owned(value.to_string()),
            }),
        }
    }
    Some(out)
}

/// The element's new name: without a prefix bound to UserLand's
/// namespace, or its 1.0 name when it is in the 0.3 namespace and was
/// renamed.
fn renamed<'a>(qualified: &'a str, prefixes: &Prefixes) -> Cow<'a, str> {
    let (prefix, name) = qualified.split_once(':').unwrap_or(("", qualified));
    if !prefix.is_empty() && prefixes.userland.iter().any(|p| p == prefix) {
        return Cow::Owned(name.to_string());
    }
    if !prefixes.atom_03.iter().any(|p| p == prefix) {
        return Cow::Borrowed(qualified);
    }
    let new = match name {
        "issued" => "published",
        "modified" => "updated",
        "tagline" => "subtitle",
        "copyright" => "rights",
        "url" => "uri",
        _ => return Cow::Borrowed(qualified),
    };
    Cow::Owned(if prefix.is_empty() {
        new.to_string()
    } else {
        format!("{prefix}:{new}")
    })
}

fn local(qualified: &str) -> &str {
    qualified.rsplit_once(':').map_or(qualified, |(_, local)| local)
}

/// Atom 0.3 gave text constructs a MIME type; 1.0 has three words.
fn text_type(mime: &str) -> &str {
    match mime.trim().to_ascii_lowercase().as_str() {
        "text/html" | "html" => "html",
        "application/xhtml+xml" | "xhtml" => "xhtml",
        _ => "text",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atom_03_feed_becomes_atom_10() {
        let doc = br#"<?xml version="1.0" encoding="utf-8"?>
<feed version="0.3" xmlns="http://purl.org/atom/ns#" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <title>Mairie de M&#232;ze</title><tagline type="text/html" mode="escaped">&lt;b&gt;Actus&lt;/b&gt;</tagline>
  <modified>2004-01-02T00:00:00Z</modified>
  <entry>
    <title>Conseil &amp; budget</title><link rel="alternate" type="text/html" href="http://ex.org/1"/>
    <id>tag:ex.org,2004:1</id><issued>2004-01-01T10:00:00+01:00</issued><modified>2004-01-01T12:00:00Z</modified>
    <author><name>Mairie</name><url>http://ex.org/</url></author><dc:subject>Budget</dc:subject>
    <content type="text/html" mode="escaped">&lt;p&gt;Texte&lt;/p&gt;</content>
  </entry>
</feed>"#;
        let upgraded = String::from_utf8(upgrade(doc).unwrap()).unwrap();
        assert!(
            upgraded.contains(r#"<feed xmlns="http://www.w3.org/2005/Atom""#),
            "{upgraded}"
        );
        assert!(
            upgraded.contains("<published>2004-01-01T10:00:00+01:00</published>"),
            "{upgraded}"
        );
        assert!(
            upgraded.contains(r#"<subtitle type="html">&lt;b&gt;Actus&lt;/b&gt;</subtitle>"#),
            "{upgraded}"
        );
        assert!(upgraded.contains("<uri>http://ex.org/</uri>"), "{upgraded}");
        assert!(upgraded.contains("<title>Conseil &amp; budget</title>"), "{upgraded}");
        assert!(upgraded.contains("<dc:subject>Budget</dc:subject>"), "{upgraded}");
        let feed = feed_rs::parser::parse(upgraded.as_bytes()).unwrap();
        let entry = &feed.entries[0];
        assert_eq!(entry.title.as_ref().unwrap().content, "Conseil & budget");
        assert_eq!(entry.published.unwrap().to_rfc3339(), "2004-01-01T09:00:00+00:00");
        assert_eq!(entry.content.as_ref().unwrap().body.as_deref(), Some("<p>Texte</p>"));
    }

    #[test]
    fn rss_090_and_userland_rss_become_what_feed_rs_reads() {
        let rss090 = br#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://channel.netscape.com/rdf/simple/0.9/">
  <channel><title>Mozilla</title><link>http://www.mozilla.org</link><description>d</description></channel>
  <item><title>Status</title><link>http://www.mozilla.org/status/</link></item></rdf:RDF>"#;
        let feed = feed_rs::parser::parse(&upgrade(rss090).unwrap()[..]).unwrap();
        assert_eq!(feed.entries[0].title.as_ref().unwrap().content, "Status");

        let userland = br#"<rss version="2.0" xmlns="http://backend.userland.com/rss2" xmlns:yandex="http://news.yandex.ru"><channel><title>t</title>
  <item><title>Oren</title><link>http://www.oren.ru/news/1/</link><yandex:full-text>x</yandex:full-text></item></channel></rss>"#;
        let upgraded = String::from_utf8(upgrade(userland).unwrap()).unwrap();
        assert!(
            upgraded.starts_with(r#"<rss version="2.0" xmlns:yandex="http://news.yandex.ru">"#),
            "{upgraded}"
        );
        let feed = feed_rs::parser::parse(upgraded.as_bytes()).unwrap();
        assert_eq!(feed.entries[0].title.as_ref().unwrap().content, "Oren");
    }

    #[test]
    fn other_documents_are_left_alone() {
        assert!(upgrade(br#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title></feed>"#).is_none());
        assert!(upgrade(b"<rss version=\"2.0\"><channel><title>t</title></channel></rss>").is_none());
    }
}
