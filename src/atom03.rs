//! Atom 0.3 documents rewritten as Atom 1.0, which feed-rs reads: feed-rs
//! 3.0 recognises only the 1.0 namespace and returns an Atom 0.3 feed with
//! no entries at all (351 of the corpus's documents). Pure.
//!
//! The namespace is replaced, and the elements and attributes that were
//! renamed in 1.0 are renamed: `issued` → `published`, `modified` →
//! `updated`, `tagline` → `subtitle`, `copyright` → `rights`, a person's
//! `url` → `uri`, and text constructs' MIME `type` (`text/html`) → `html`,
//! their `mode` dropped. Everything else is copied as it was.

use std::borrow::Cow;

use quick_xml::Writer;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesEnd, BytesStart, Event};

const ATOM_03: &str = "http://purl.org/atom/ns#";
const ATOM_10: &str = "http://www.w3.org/2005/Atom";

/// The Atom 1.0 version of an Atom 0.3 document (UTF-8); None when `xml`
/// is not Atom 0.3 or cannot be read.
pub fn upgrade(xml: &[u8]) -> Option<Vec<u8>> {
    memchr::memmem::find(xml, ATOM_03.as_bytes())?;
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut writer = Writer::new(Vec::with_capacity(xml.len() + 64));
    // Prefixes bound to the 0.3 namespace ("" for the default namespace).
    let mut prefixes: Vec<String> = Vec::new();
    loop {
        let event = match reader.read_event().ok()? {
            Event::Start(e) => Event::Start(start(&e, &mut prefixes)?),
            Event::Empty(e) => Event::Empty(start(&e, &mut prefixes)?),
            Event::End(e) => {
                let qualified = e.name();
                Event::End(BytesEnd::new(renamed(qualified.as_ref(), &prefixes).into_owned()))
            }
            Event::Eof => break,
            other => other,
        };
        writer.write_event(event).ok()?;
    }
    (!prefixes.is_empty()).then(|| writer.into_inner())
}

fn start(element: &BytesStart<'_>, prefixes: &mut Vec<String>) -> Option<BytesStart<'static>> {
    // Namespace declarations first: they may bind this element's own prefix.
    for attr in element.attributes().with_checks(false) {
        let attr = attr.ok()?;
        let key = attr.key.as_ref();
        if attr.value.as_ref() == ATOM_03 && (key == "xmlns" || key.starts_with("xmlns:")) {
            prefixes.push(
                key.strip_prefix("xmlns")
                    .unwrap_or_default()
                    .trim_start_matches(':')
                    .to_string(),
            );
        }
    }
    let qualified = element.name();
    let name = renamed(qualified.as_ref(), prefixes);
    let text_construct = matches!(local(&name), "title" | "subtitle" | "summary" | "content" | "rights");
    let mut out = BytesStart::new(name.into_owned());
    for attr in element.attributes().with_checks(false) {
        let attr = attr.ok()?;
        let key = attr.key.as_ref().to_string();
        let value = attr.value.as_ref();
        match key.as_str() {
            k if value == ATOM_03 && (k == "xmlns" || k.starts_with("xmlns:")) => {
                out.push_attribute((k, ATOM_10));
            }
            "mode" | "version" => {}
            "type" if text_construct => out.push_attribute(("type", text_type(value))),
            _ => out.push_attribute(Attribute {
                key: attr.key,
                value: Cow::Owned(value.to_string()),
            }),
        }
    }
    Some(out)
}

/// The element's 1.0 name, when it is in the 0.3 namespace and was renamed.
fn renamed<'a>(qualified: &'a str, prefixes: &[String]) -> Cow<'a, str> {
    let (prefix, name) = qualified.split_once(':').unwrap_or(("", qualified));
    if !prefixes.iter().any(|p| p == prefix) {
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
    fn other_documents_are_left_alone() {
        assert!(upgrade(br#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title></feed>"#).is_none());
        assert!(upgrade(b"<rss version=\"2.0\"><channel><title>t</title></channel></rss>").is_none());
    }
}
