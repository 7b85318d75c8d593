//! Pure: RSS 1.0 documents reshaped where feed-rs reads no entry while
//! readers do: items written inside `<channel>` (they belong after it) and
//! items without a `<link>` (feed-rs drops them; their `rdf:about`, the
//! item's URI, stands in). Everything else is copied as it was.

use quick_xml::Writer;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};

const RSS_10: &str = "http://purl.org/rss/1.0/";
const NO_LINK: &str = "urn:x-thau:no-link";

/// Whether `xml` may be RSS 1.0: an RDF root declaring the RSS 1.0
/// namespace itself (not one of its modules, such as `…/rss/1.0/modules/content/`).
pub fn may_apply(xml: &[u8]) -> bool {
    let head = &xml[..xml.len().min(4096)];
    let declared = |quote: &str| memchr::memmem::find(head, format!("{RSS_10}{quote}").as_bytes()).is_some();
    memchr::memmem::find(head, b"RDF").is_some() && (declared("\"") || declared("'"))
}

/// The document (UTF-8) reshaped; None when nothing needed it or it is not
/// RSS 1.0.
pub fn reshape(xml: &[u8]) -> Option<Vec<u8>> {
    if !may_apply(xml) {
        return None;
    }
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut out = Writer::new(Vec::with_capacity(xml.len() + 256));
    // Items met inside the channel, written after it.
    let mut moved = Writer::new(Vec::new());
    let mut depth = 0usize;
    let mut channel_depth: Option<usize> = None;
    // The item being copied: its depth, rdf:about, whether it has a link,
    // and whether it is being moved out of the channel.
    let mut item: Option<(usize, Option<String>, bool, bool)> = None;
    let mut changed = false;
    loop {
        let event = reader.read_event().ok()?;
        let local = |name: &[u8]| -> String {
            let name = String::from_utf8_lossy(name).into_owned();
            name.rsplit_once(':').map_or(name.clone(), |(_, l)| l.to_string())
        };
        match &event {
            Event::Eof => break,
            Event::Start(e) => {
                depth += 1;
                let name = local(e.name().as_ref().as_bytes());
                if name == "channel" && channel_depth.is_none() && item.is_none() {
                    channel_depth = Some(depth);
                } else if name == "item" && item.is_none() {
                    let about = about(e);
                    let inside = channel_depth.is_some();
                    changed |= inside;
                    item = Some((depth, about, false, inside));
                } else if name == "link" && item.as_ref().is_some_and(|(d, ..)| depth == d + 1) {
                    if let Some(i) = item.as_mut() {
                        i.2 = true;
                    }
                }
            }
            Event::End(e) => {
                let name = local(e.name().as_ref().as_bytes());
                if let Some((d, about, has_link, inside)) = item.clone()
                    && depth == d
                    && name == "item"
                {
                    if !has_link {
                        // feed-rs keeps only items with a link: the item's
                        // URI, else a placeholder thau never publishes (it
                        // keeps http(s) links only).
                        let w = if inside { &mut moved } else { &mut out };
                        write_link(w, about.as_deref().unwrap_or(NO_LINK))?;
                        changed = true;
                    }
                    let w = if inside { &mut moved } else { &mut out };
                    w.write_event(event.clone()).ok()?;
                    item = None;
                    depth -= 1;
                    continue;
                }
                if channel_depth == Some(depth) && name == "channel" {
                    out.write_event(event.clone()).ok()?;
                    out.get_mut().extend_from_slice(moved.get_ref());
                    moved.get_mut().clear();
                    channel_depth = None;
                    depth -= 1;
                    continue;
                }
                depth -= 1;
            }
            Event::Empty(e) => {
                let name = local(e.name().as_ref().as_bytes());
                if name == "item"
                    && item.is_none()
                    && let Some(about) = about(e)
                {
                    // `<item rdf:about="…"/>`: an item with nothing but its URI.
                    let inside = channel_depth.is_some();
                    let w = if inside { &mut moved } else { &mut out };
                    w.write_event(Event::Start(e.clone())).ok()?;
                    write_link(w, &about)?;
                    w.write_event(Event::End(BytesEnd::new(
                        String::from_utf8_lossy(e.name().as_ref().as_bytes()).into_owned(),
                    )))
                    .ok()?;
                    changed = true;
                    continue;
                }
            }
            _ => {}
        }
        let inside_item = item.as_ref().is_some_and(|(.., inside)| *inside);
        let w = if inside_item { &mut moved } else { &mut out };
        w.write_event(event).ok()?;
    }
    changed.then(|| out.into_inner())
}

fn about(e: &BytesStart<'_>) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref().ends_with("about"))
        .map(|a| a.value.to_string())
        .filter(|v| !v.trim().is_empty())
}

fn write_link(w: &mut Writer<Vec<u8>>, href: &str) -> Option<()> {
    w.write_event(Event::Start(BytesStart::new("link"))).ok()?;
    w.write_event(Event::Text(BytesText::new(href))).ok()?;
    w.write_event(Event::End(BytesEnd::new("link"))).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_leave_the_channel_and_gain_their_uri_as_link() {
        let doc = br#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"><channel rdf:about="https://ex.example/"><title>t</title><item rdf:about="https://ex.example/1"><title>A</title><link>https://ex.example/1</link></item></channel><item rdf:about="https://ex.example/2"><title>B</title></item></rdf:RDF>"#;
        let out = String::from_utf8(reshape(doc).unwrap()).unwrap();
        assert_eq!(
            out,
            r#"<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"><channel rdf:about="https://ex.example/"><title>t</title></channel><item rdf:about="https://ex.example/1"><title>A</title><link>https://ex.example/1</link></item><item rdf:about="https://ex.example/2"><title>B</title><link>https://ex.example/2</link></item></rdf:RDF>"#
        );
        let fine = br#"<rdf:RDF xmlns="http://purl.org/rss/1.0/"><channel><title>t</title></channel><item><link>https://ex.example/1</link></item></rdf:RDF>"#;
        assert!(reshape(fine).is_none());
        // RSS 2.0 using an RSS 1.0 module is not RSS 1.0.
        let rss2 = br#"<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><item><title>x</title></item></channel></rss>"#;
        assert!(!may_apply(rss2) && reshape(rss2).is_none());
    }
}
