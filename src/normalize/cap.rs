//! Pure: a document with more entries than one poll takes
//! (`max_entries_per_poll`) cut down to its newest ones *before* feed-rs
//! builds its model, so memory is bounded by the cap, not by the document:
//! a 10 MB RSS of 330,000 two-word items would otherwise take gigabytes.
//! The cut is a byte-level edit: the kept `<item>`/`<entry>` elements (or
//! JSON Feed items) are copied as written, everything else is kept.

use std::ops::Range;

use chrono_tz::Tz;

use crate::dates;

/// The document cut to its `max` newest entries (by their first date,
/// undated ones as the newest, then in document order), and how many
/// entries it had. None when it has `max` entries or fewer, or cannot be
/// read this way (feed-rs then reads it whole).
pub fn newest(doc: &[u8], max: usize, zone: Option<Tz>) -> Option<(Vec<u8>, usize)> {
    let first = doc.iter().position(|b| !b.is_ascii_whitespace())?;
    let items = if doc[first] == b'{' {
        json_items(doc, zone)?
    } else {
        // Cheap test first: most documents are far under the cap. (An
        // over-count only costs the exact scan below; any prefix counts.)
        let tags = memchr::memmem::find_iter(doc, b"item").count() + memchr::memmem::find_iter(doc, b"entry").count();
        if tags <= max {
            return None;
        }
        xml_items(doc, zone)
    };
    if items.len() <= max {
        return None;
    }
    let total = items.len();
    let mut order: Vec<usize> = (0..total).collect();
    // Newest first; undated entries count as new (they were seen now).
    order.sort_by_key(|&i| (std::cmp::Reverse(items[i].date.unwrap_or(i64::MAX)), i));
    let mut keep = vec![false; total];
    for &i in &order[..max] {
        keep[i] = true;
    }
    let mut out = Vec::with_capacity(doc.len().min(max * 4096));
    if doc[first] == b'{' {
        // The items array is rebuilt: only commas and spaces lie between items.
        out.extend_from_slice(&doc[..items[0].span.start]);
        for (n, item) in items
            .iter()
            .enumerate()
            .filter(|(i, _)| keep[*i])
            .map(|(_, item)| item)
            .enumerate()
        {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&doc[item.span.clone()]);
        }
        out.extend_from_slice(&doc[items[total - 1].span.end..]);
    } else {
        // What lies between items is kept; the items not kept go.
        let mut at = 0;
        for (item, _) in items.iter().zip(&keep).filter(|(_, keep)| !**keep) {
            out.extend_from_slice(&doc[at..item.span.start]);
            at = item.span.end;
        }
        out.extend_from_slice(&doc[at..]);
    }
    Some((out, total))
}

/// Where each outermost `<item>`/`<entry>` element of `doc` is.
pub fn item_spans(doc: &[u8]) -> Vec<Range<usize>> {
    xml_items(doc, None).into_iter().map(|i| i.span).collect()
}

struct Item {
    span: Range<usize>,
    /// Milliseconds since the epoch of its first date.
    date: Option<i64>,
}

/// The outermost `<item>`/`<entry>` elements, with their first date.
fn xml_items(doc: &[u8], zone: Option<Tz>) -> Vec<Item> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(doc);
    let mut items = Vec::new();
    let mut depth = 0usize;
    // (depth of the item's element, where it starts, its date) while in one.
    let mut open: Option<(usize, usize, Option<i64>)> = None;
    loop {
        let before = reader.buffer_position() as usize;
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                depth += 1;
                let name = e.local_name();
                let name = name.as_ref();
                match &mut open {
                    None if is_item(name) => open = Some((depth, before, None)),
                    Some((item_depth, _, date @ None)) if depth == *item_depth + 1 && is_date(name) => {
                        let end = e.to_end().into_owned();
                        if let Ok(text) = reader.read_text(end.name()) {
                            *date = dates::parse_in(&text, zone).map(|d| d.timestamp_millis());
                        }
                        // read_text consumed the end tag.
                        depth -= 1;
                    }
                    _ => {}
                }
            }
            Ok(Event::Empty(e)) if open.is_none() && is_item(e.local_name().as_ref()) => {
                items.push(Item {
                    span: before..reader.buffer_position() as usize,
                    date: None,
                });
            }
            Ok(Event::End(_)) => {
                if let Some((item_depth, start, date)) = open
                    && item_depth == depth
                {
                    items.push(Item {
                        span: start..reader.buffer_position() as usize,
                        date,
                    });
                    open = None;
                }
                depth = depth.saturating_sub(1);
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    items
}

fn is_item(local_name: &str) -> bool {
    local_name.eq_ignore_ascii_case("item") || local_name.eq_ignore_ascii_case("entry")
}

fn is_date(local_name: &str) -> bool {
    [
        "pubDate",
        "published",
        "updated",
        "issued",
        "modified",
        "created",
        "date",
    ]
    .iter()
    .any(|d| local_name.eq_ignore_ascii_case(d))
}

/// A JSON Feed's items, each as the slice of the document it is.
fn json_items(doc: &[u8], zone: Option<Tz>) -> Option<Vec<Item>> {
    #[derive(serde::Deserialize)]
    struct Feed<'a> {
        #[serde(borrow)]
        items: Vec<&'a serde_json::value::RawValue>,
    }
    #[derive(serde::Deserialize)]
    struct Dates {
        date_published: Option<String>,
        date_modified: Option<String>,
    }
    let text = std::str::from_utf8(doc).ok()?;
    let feed: Feed<'_> = serde_json::from_str(text).ok()?;
    let base = text.as_ptr() as usize;
    Some(
        feed.items
            .into_iter()
            .map(|raw| {
                let start = raw.get().as_ptr() as usize - base;
                let date = serde_json::from_str::<Dates>(raw.get())
                    .ok()
                    .and_then(|d| d.date_published.or(d.date_modified))
                    .and_then(|d| dates::parse_in(&d, zone))
                    .map(|d| d.timestamp_millis());
                Item {
                    span: start..start + raw.get().len(),
                    date,
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_rss_feed_keeps_its_newest_items_in_document_order() {
        let doc = br#"<rss version="2.0"><channel><title>t</title>
<item><guid>a</guid><pubDate>Tue, 24 Nov 2026 08:00:00 GMT</pubDate></item>
<item><guid>b</guid><pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate></item>
<item><guid>c</guid><pubDate>Mon, 23 Nov 2026 10:00:00 GMT</pubDate></item>
<item><guid>d</guid><pubDate>Tue, 24 Nov 2026 09:00:00 GMT</pubDate></item>
</channel></rss>"#;
        let (cut, total) = newest(doc, 2, None).unwrap();
        assert_eq!(total, 4);
        let cut = String::from_utf8(cut).unwrap();
        assert_eq!(
            cut,
            "<rss version=\"2.0\"><channel><title>t</title>\n\n<item><guid>b</guid><pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate></item>\n\n<item><guid>d</guid><pubDate>Tue, 24 Nov 2026 09:00:00 GMT</pubDate></item>\n</channel></rss>"
        );
        assert!(newest(doc, 4, None).is_none(), "under the cap: untouched");
    }

    #[test]
    fn nested_entries_and_atom_dates() {
        let doc = br#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
<entry><id>1</id><updated>2026-11-20T00:00:00Z</updated><source><entry>not an item</entry></source></entry>
<entry><id>2</id><updated>2026-11-21T00:00:00Z</updated></entry>
<entry><id>3</id></entry></feed>"#;
        let (cut, total) = newest(doc, 2, None).unwrap();
        assert_eq!(total, 3);
        let cut = String::from_utf8(cut).unwrap();
        assert!(
            !cut.contains("<id>1</id>") && cut.contains("<id>2</id>") && cut.contains("<id>3</id>"),
            "{cut}"
        );
    }

    #[test]
    fn a_json_feed_keeps_valid_json() {
        let doc = br#"{"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [
 {"id": "a", "date_published": "2026-11-20T00:00:00Z"},
 {"id": "b", "date_published": "2026-11-22T00:00:00Z"} ,
 {"id": "c", "date_published": "2026-11-21T00:00:00Z"}
], "home_page_url": "https://x.example/"}"#;
        let (cut, total) = newest(doc, 2, None).unwrap();
        assert_eq!(total, 3);
        let v: serde_json::Value = serde_json::from_slice(&cut).unwrap();
        let ids: Vec<&str> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["b", "c"]);
        assert_eq!(v["home_page_url"], "https://x.example/");
    }
}
