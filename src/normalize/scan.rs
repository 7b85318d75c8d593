//! Pure: a second look at each `<item>`/`<entry>` of an XML document, for
//! what feed-rs does not say or says differently from how readers read it:
//! the xml:base in force, the *first* title, guid and date when an entry
//! repeats them (feed-rs keeps the last), and the texts, titles and
//! categories of modules it skips (Dublin Core, Media RSS, iTunes, Atom
//! elements inside RSS items, XHTML bodies).

use std::rc::Rc;

use quick_xml::events::{BytesStart, Event};
use url::Url;

const DC: &str = "http://purl.org/dc/elements/1.1/";
const MEDIA: &str = "http://search.yahoo.com/mrss/";
/// (Compared without case: feeds write `…/DTDs/Podcast-1.0.dtd` too.)
const ITUNES: &str = "http://www.itunes.com/dtds/podcast-1.0.dtd";
const ATOM: &str = "http://www.w3.org/2005/Atom";
const XHTML: &str = "http://www.w3.org/1999/xhtml";
const RSS_10: &str = "http://purl.org/rss/1.0/";

/// What the scan finds of one entry. Texts are as written (entities
/// decoded, CDATA opened); HTML bodies keep their markup.
#[derive(Debug, Default, Clone)]
pub struct EntryScan {
    /// The xml:base in force (http(s) only).
    pub base: Option<Url>,
    /// Its first publication-date and update-date elements' text.
    pub published: Option<String>,
    /// `published` is an RSS `<pubDate>`, not an extension's date.
    pub published_is_pubdate: bool,
    pub updated: Option<String>,
    /// How many of each it has: more than one means feed-rs kept the last.
    pub dates: usize,
    pub titles: usize,
    pub guids: usize,
    /// RSS `<link>` elements, and the text of the last one.
    pub rss_links: usize,
    pub last_rss_link: Option<String>,
    /// The first title, guid (and whether it is a permalink).
    pub title: Option<String>,
    pub guid: Option<(String, bool)>,
    /// `dc:title`, `media:title`: titles feed-rs does not read.
    pub other_title: Option<String>,
    /// `dc:subject`s.
    pub subjects: Vec<String>,
    /// Texts feed-rs does not read, in the order readers prefer them:
    /// an XHTML body (HTML), Atom content or summary in an RSS item,
    /// `dc:description`, `media:description`, `itunes:summary`.
    pub body: Option<String>,
    pub other_text: Option<String>,
    /// `dc:description`: the text when it says more than `<description>`.
    pub dc_description: Option<String>,
    /// `itunes:summary`: a podcast's longer text, which feedparser shows
    /// over a shorter `<description>`.
    pub itunes_summary: Option<String>,
    /// The markup inside an RSS `<description>` written as child elements
    /// (RSS 1.0 "mixed content"), which feed-rs reads as empty or cuts at
    /// the first element.
    pub mixed_description: Option<String>,
    /// A title, or an Atom content or summary typed html or text, written
    /// with child elements instead of escaped (`<title><b>Breaking</b>
    /// news</title>`): feed-rs keeps the text before the first element, or
    /// nothing. Their markup, as HTML.
    pub title_markup: Option<String>,
    pub content_markup: Option<String>,
    pub summary_markup: Option<String>,
    /// Alternate links given as `href` (an Atom link under any prefix in an
    /// RSS item, as .NET writes `<a10:link href>`; an RSS `<link href>`) or
    /// as an Atom link's text: links a reader follows that feed-rs skips.
    pub other_links: Vec<String>,
    /// Its first `media:thumbnail` (its own, or in a `media:group`), its
    /// `itunes:image` and `itunes:duration`.
    pub thumbnail: Option<String>,
    pub itunes_image: Option<String>,
    pub duration: Option<String>,
}

/// Whether raw element content holds child elements (outside CDATA).
fn has_child_elements(raw: &str) -> bool {
    let mut rest = raw;
    loop {
        let (head, tail) = match rest.find("<![CDATA[") {
            Some(at) => (&rest[..at], rest[at + 9..].split_once("]]>").map(|(_, t)| t)),
            None => (rest, None),
        };
        let bytes = head.as_bytes();
        if bytes
            .windows(2)
            .any(|w| w[0] == b'<' && (w[1].is_ascii_alphabetic() || w[1] == b'/'))
        {
            return true;
        }
        match tail {
            Some(t) => rest = t,
            None => return false,
        }
    }
}

/// Raw element content as HTML: markup kept, CDATA sections (text) escaped.
fn as_html(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find("<![CDATA[") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 9..];
        let end = after.find("]]>").unwrap_or(after.len());
        out.push_str(&super::escape_html(&after[..end]));
        rest = after.get(end + 3..).unwrap_or("");
    }
    out.push_str(rest);
    out.trim().to_string()
}

/// An open element's xml:base and namespace declarations (prefix, URI).
type Scope = (Option<Rc<Url>>, Vec<(String, String)>);

/// Each `<entry>`/`<item>` in document order (an entry inside another,
/// such as one in an `atom:source`, is not one).
pub fn scan_entries(bytes: &[u8], doc: Option<&Url>) -> Vec<EntryScan> {
    let mut reader = quick_xml::Reader::from_reader(bytes);
    // Per open element: its xml:base and its namespace declarations.
    // (Shared: every element under a base points to the same one.)
    let mut stack: Vec<Scope> = Vec::new();
    let doc = doc.cloned().map(Rc::new);
    let mut scans: Vec<EntryScan> = Vec::new();
    // The depth of the entry being read, while in one.
    let mut in_entry: Option<usize> = None;
    loop {
        let (element, empty) = match reader.read_event() {
            Ok(Event::Start(e)) => (e, false),
            Ok(Event::Empty(e)) => (e, true),
            Ok(Event::End(_)) => {
                stack.pop();
                if in_entry.is_some_and(|depth| stack.len() < depth) {
                    in_entry = None;
                }
                continue;
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => continue,
        };
        let parent = stack.last().map_or_else(|| doc.clone(), |(b, _)| b.clone());
        let base = match element.try_get_attribute("xml:base") {
            Ok(Some(attr)) => {
                let value = attr.value.into_owned();
                // A base that is not http(s) (`javascript:…//`) is never
                // used: relative links would inherit its scheme.
                super::http_url(&value, parent.as_deref()).map(Rc::new).or(parent)
            }
            _ => parent,
        };
        let declared = declarations(&element);
        let (ns, local) = resolve(&element, &declared, &stack);
        let ns = ns.map(|n| {
            if n.eq_ignore_ascii_case(ITUNES) {
                ITUNES.to_string()
            } else {
                n
            }
        });
        let depth = stack.len();
        if in_entry.is_none() && matches!(local.as_str(), "entry" | "item") {
            scans.push(EntryScan {
                base: base.as_deref().cloned(),
                ..EntryScan::default()
            });
            if !empty {
                in_entry = Some(depth + 1);
                stack.push((base, declared));
            }
            continue;
        }
        let top = in_entry == Some(depth);
        let in_group = in_entry.is_some_and(|d| depth == d + 1) && ns.as_deref() == Some(MEDIA);
        let in_media = in_entry.is_some_and(|d| depth >= d) && ns.as_deref() == Some(MEDIA);
        let Some(scan) = scans.last_mut() else {
            if !empty {
                stack.push((base, declared));
            }
            continue;
        };
        let place = Place {
            ns: ns.as_deref(),
            local: &local,
            top,
        };
        read_attributes(scan, &element, &place, in_media);
        if !empty && wanted(&place, in_group) {
            let end = element.to_end().into_owned();
            let Ok(raw) = reader.read_text(end.name()) else { break };
            read_element(scan, &element, &place, &raw);
            // read_text consumed the end tag: the element is not on the stack.
            continue;
        }
        if !empty {
            stack.push((base, declared));
        }
    }
    scans
}

/// Where an element is: its namespace, its local name (lowercase), and
/// whether it is a child of the entry itself.
struct Place<'a> {
    ns: Option<&'a str>,
    local: &'a str,
    top: bool,
}

/// An attribute's value, unescaped and trimmed.
fn attribute(element: &BytesStart<'_>, name: &str) -> Option<String> {
    element
        .try_get_attribute(name)
        .ok()
        .flatten()
        .map(|a| unescape(&a.value).trim().to_string())
}

/// What an element says in its attributes (empty elements too): alternate
/// links given as `href`, matched by namespace URI, never by prefix; and
/// pictures.
fn read_attributes(scan: &mut EntryScan, element: &BytesStart<'_>, place: &Place<'_>, in_media: bool) {
    let attr = |name: &str| attribute(element, name);
    let given = |name: &str| attr(name).filter(|v| !v.is_empty());
    if place.top && place.local == "link" && matches!(place.ns, None | Some(ATOM) | Some(RSS_10)) {
        let alternate = attr("rel").is_none_or(|r| r.eq_ignore_ascii_case("alternate"));
        if let Some(href) = given("href")
            && alternate
        {
            scan.other_links.push(href);
        }
    }
    match (place.ns, place.local) {
        (Some(MEDIA), "thumbnail") if in_media && scan.thumbnail.is_none() => scan.thumbnail = given("url"),
        (Some(ITUNES), "image") if place.top && scan.itunes_image.is_none() => scan.itunes_image = given("href"),
        _ => {}
    }
}

/// Whether the scan reads an element's content.
fn wanted(place: &Place<'_>, in_group: bool) -> bool {
    let top = place.top;
    match (place.ns, place.local) {
        (Some(MEDIA), "title" | "description") => top || in_group,
        (Some(MEDIA), _) => false,
        (Some(DC), "title" | "subject" | "description") | (Some(ITUNES), "summary" | "duration") => top,
        // An XHTML body, with or without its namespace; feedparser's `fullitem`.
        (_, "body" | "fullitem") => top,
        (None, "description" | "summary") => top,
        (Some(RSS_10), "description") => top,
        (Some(ATOM), "content" | "summary") => top,
        // (Its text, when it has no href.)
        (Some(ATOM), "link") => top,
        (_, "title" | "guid" | "link" | "pubdate" | "published" | "issued" | "date" | "updated" | "modified") => top,
        _ => false,
    }
}

/// What a wanted element's content (`raw`, as written) tells of its entry.
fn read_element(scan: &mut EntryScan, element: &BytesStart<'_>, place: &Place<'_>, raw: &str) {
    let attr = |name: &str| {
        element
            .try_get_attribute(name)
            .ok()
            .flatten()
            .map(|a| a.value.into_owned())
    };
    let text = || inner_text(raw);
    let top = place.top;
    match (place.ns, place.local) {
        (Some(DC), "title") if top => {
            scan.other_title.get_or_insert_with(text);
        }
        (Some(MEDIA), "title") => {
            scan.other_title.get_or_insert_with(text);
        }
        (Some(DC), "subject") if top => scan.subjects.push(text()),
        (Some(DC), "description") if top => {
            let dc = scan.dc_description.get_or_insert_with(text);
            scan.other_text.get_or_insert_with(|| dc.clone());
        }
        // An Atom-style summary without its namespace in an RSS item.
        (None, "summary") if top => {
            scan.other_text.get_or_insert_with(text);
        }
        // Plain text unless typed html (Media RSS), or written as HTML
        // anyway (as feedparser reads it): plain text keeps its lines.
        (Some(MEDIA), "description") => {
            scan.other_text.get_or_insert_with(|| {
                let text = text();
                match attr("type").as_deref() {
                    Some("html") => text,
                    _ if super::holds_markup(&text) => text,
                    _ => super::plain_text_html(&text),
                }
            });
        }
        (Some(ITUNES), "duration") if top => {
            scan.duration.get_or_insert_with(text);
        }
        (Some(ITUNES), "summary") if top => {
            scan.itunes_summary.get_or_insert_with(text);
            scan.other_text.get_or_insert_with(text);
        }
        (Some(XHTML) | None, "body") if top => {
            scan.body.get_or_insert_with(|| raw.trim().to_string());
        }
        (_, "fullitem") if top => {
            scan.body.get_or_insert_with(text);
        }
        // Child elements, not escaped HTML: mixed content.
        (None | Some(RSS_10), "description") if top && has_child_elements(raw) => {
            scan.mixed_description.get_or_insert_with(|| as_html(raw));
        }
        (Some(ATOM), "content" | "summary") if top => {
            let kind = attr("type");
            if kind.as_deref() != Some("xhtml") && has_child_elements(raw) {
                let markup = match place.local {
                    "content" => &mut scan.content_markup,
                    _ => &mut scan.summary_markup,
                };
                let html = markup.get_or_insert_with(|| as_html(raw)).clone();
                // (Markup, not text to escape.)
                scan.body.get_or_insert(html);
            }
            scan.body.get_or_insert_with(|| match kind.as_deref() {
                Some("xhtml") => as_html(raw),
                Some("html") => inner_text(raw),
                _ => super::escape_html(&inner_text(raw)),
            });
        }
        (ns, "title") if top && ns != Some(MEDIA) => {
            scan.titles += 1;
            if scan.titles == 1 && attr("type").as_deref() != Some("xhtml") && has_child_elements(raw) {
                scan.title_markup = Some(as_html(raw));
            }
            scan.title.get_or_insert_with(text);
        }
        (_, "guid") if top => {
            scan.guids += 1;
            let is_permalink = attr("isPermaLink").is_none_or(|v| !v.trim().eq_ignore_ascii_case("false"));
            scan.guid.get_or_insert_with(|| (text(), is_permalink));
        }
        (Some(ATOM), "link") if top => {
            // An Atom link whose URL is its text (not an RSS link).
            let url = text();
            let given = attr("href").is_none() && !url.is_empty() && !has_child_elements(raw);
            scan.other_links.extend(given.then_some(url));
        }
        (_, "link") if top => {
            scan.rss_links += 1;
            scan.last_rss_link = Some(text());
        }
        // An RSS item's own first pubDate wins over a date an extension
        // (atom:published, dcterms:issued) gives beside it.
        (None, "pubdate") if top => {
            scan.dates += 1;
            if !scan.published_is_pubdate {
                scan.published = Some(text());
                scan.published_is_pubdate = true;
            }
        }
        (_, "pubdate" | "published" | "issued") if top => {
            scan.dates += 1;
            scan.published.get_or_insert_with(text);
        }
        // dc:date is when the item was last changed, as feedparser reads
        // it (RSS 1.0's only date: feed-rs reads it itself).
        (_, "updated" | "modified" | "date") if top => {
            scan.updated.get_or_insert_with(text);
        }
        _ => {}
    }
}

/// The `xmlns` and `xmlns:p` attributes of an element: (prefix, uri).
fn declarations(element: &BytesStart<'_>) -> Vec<(String, String)> {
    element
        .attributes()
        .flatten()
        .filter_map(|a| {
            let prefix = match a.key.into_inner().strip_prefix("xmlns") {
                Some("") => String::new(),
                Some(p) => p.strip_prefix(':')?.to_string(),
                None => return None,
            };
            Some((prefix, a.value.to_string()))
        })
        .collect()
}

/// An element's namespace URI (through the declarations in force) and
/// local name, lowercase.
fn resolve(element: &BytesStart<'_>, own: &[(String, String)], stack: &[Scope]) -> (Option<String>, String) {
    let name = element.name().into_inner();
    let (prefix, local) = name.split_once(':').unwrap_or(("", name));
    let uri = own
        .iter()
        .chain(stack.iter().rev().flat_map(|(_, d)| d.iter()))
        .find(|(p, _)| p == prefix)
        .map(|(_, uri)| uri.clone());
    (uri, local.to_ascii_lowercase())
}

/// The text of an element's raw content: CDATA sections opened, entities
/// decoded elsewhere, whitespace trimmed.
fn inner_text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find("<![CDATA[") {
        out.push_str(&unescape(&rest[..start]));
        let after = &rest[start + 9..];
        let end = after.find("]]>").unwrap_or(after.len());
        out.push_str(&after[..end]);
        rest = after.get(end + 3..).unwrap_or("");
    }
    out.push_str(&unescape(rest));
    out.trim().to_string()
}

fn unescape(s: &str) -> String {
    quick_xml::escape::unescape(s).map_or_else(|_| s.to_string(), |u| u.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_occurrences_and_module_texts() {
        let doc = r#"<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:m="http://search.yahoo.com/mrss/" xmlns:a="http://www.w3.org/2005/Atom"><channel>
<item><guid>https://ex.example/1</guid><guid isPermaLink="false">two</guid><pubDate>Mon, 01 Jan 2024 10:00:00 GMT</pubDate><pubDate>Tue, 02 Jan 2024 10:00:00 GMT</pubDate>
<dc:subject>Sète</dc:subject><dc:subject>Culture</dc:subject><dc:description>&lt;p&gt;Texte DC&lt;/p&gt;</dc:description></item>
<item><dc:title><![CDATA[Titre & DC]]></dc:title><m:group><m:description>Vidéo</m:description></m:group><a:summary type="html">&lt;b&gt;Résumé&lt;/b&gt;</a:summary></item>
</channel></rss>"#;
        let s = scan_entries(doc.as_bytes(), None);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].guid, Some(("https://ex.example/1".into(), true)));
        assert_eq!((s[0].guids, s[0].dates), (2, 2));
        assert_eq!(s[0].published.as_deref(), Some("Mon, 01 Jan 2024 10:00:00 GMT"));
        assert_eq!(s[0].subjects, ["Sète", "Culture"]);
        assert_eq!(s[0].other_text.as_deref(), Some("<p>Texte DC</p>"));
        assert_eq!(s[1].other_title.as_deref(), Some("Titre & DC"));
        assert_eq!(s[1].other_text.as_deref(), Some("Vidéo"));
        assert_eq!(s[1].body.as_deref(), Some("<b>Résumé</b>"));
    }
}
