//! Atom 1.0 with `atom_syndication`: a stable feed id, `updated` from the
//! newest entry, self and alternate links, `atom:source` for the origin feed.

use atom_syndication::{
    Category, Content, Entry as AtomEntry, Feed, FixedDateTime, Generator, Link, Person, Source, Text, TextType,
    WriteConfig,
};
use chrono::{DateTime, Utc};

use super::{Format, SectionFeed, public_id, safe_url};
use crate::model::Entry;

pub fn atom(feed: &SectionFeed<'_>) -> Vec<u8> {
    let section = feed.section;
    let mut links = vec![
        link(feed.url(Format::Atom), "self", Format::Atom.media_type()),
        link(feed.page_url(), "alternate", "text/html"),
    ];
    for (rel, href) in feed.archive_links(Format::Atom) {
        links.push(link(href, rel, Format::Atom.media_type()));
    }
    if let Some(hub) = feed.hub {
        links.push(Link {
            href: hub.to_string(),
            rel: "hub".into(),
            ..Link::default()
        });
    }
    let archive = matches!(feed.kind, super::FeedKind::Archive(_));
    let mut namespaces = std::collections::BTreeMap::new();
    if archive {
        namespaces.insert("fh".to_string(), super::FEED_HISTORY_NS.to_string());
    }
    if feed.entries.iter().any(|e| e.image.is_some()) {
        namespaces.insert("media".to_string(), "http://search.yahoo.com/mrss/".to_string());
    }
    let out = Feed {
        title: Text::plain(section.title.clone()),
        id: feed.id(),
        updated: fixed(feed.updated()),
        subtitle: section.description.clone().map(Text::plain),
        // Entries without authors of their own are credited to the desk.
        authors: vec![Person {
            name: section.title.clone(),
            ..Person::default()
        }],
        generator: Some(Generator {
            value: "thau".into(),
            ..Generator::default()
        }),
        links,
        namespaces,
        lang: feed.language(),
        logo: section.logo.as_ref().map(|l| l.to_string()),
        icon: section.icon.as_ref().map(|l| l.to_string()),
        rights: section.copyright.clone().map(Text::plain),
        entries: feed.entries.iter().map(|e| entry(e)).collect(),
        ..Feed::default()
    };
    let config = WriteConfig {
        write_document_declaration: true,
        indent_size: Some(1),
    };
    let mut bytes = out
        .write_with_config(Vec::new(), config)
        .expect("writing to memory does not fail");
    if archive {
        // `<fh:archive/>` (RFC 5005 §4) among the feed's metadata: Atom's
        // schema wants extension elements before the entries, where
        // atom_syndication does not write them.
        let at = memchr::memmem::find(&bytes, b"<entry>")
            .or_else(|| memchr::memmem::rfind(&bytes, b"</feed>"))
            .expect("a feed has an end tag");
        bytes.splice(at..at, b"<fh:archive/>\n ".iter().copied());
    }
    bytes.push(b'\n');
    bytes
}

fn entry(e: &Entry) -> AtomEntry {
    let html = |value: &String| Text {
        value: value.clone(),
        r#type: TextType::Html,
        ..Text::default()
    };
    AtomEntry {
        id: public_id(e),
        title: Text::plain(e.title.clone()),
        updated: fixed(e.updated),
        published: Some(fixed(e.published)),
        links: entry_links(e),
        summary: e.summary.as_ref().map(html),
        content: e.content.as_ref().map(|c| Content {
            value: Some(c.clone()),
            content_type: Some("html".into()),
            ..Content::default()
        }),
        authors: e
            .authors
            .iter()
            .map(|a| Person {
                name: a.name.clone(),
                email: a.email.clone(),
                uri: a.uri.as_deref().and_then(|u| safe_url(u, true)).map(str::to_owned),
                ..Person::default()
            })
            .collect(),
        categories: e
            .categories
            .iter()
            .map(|c| Category {
                term: c.clone(),
                ..Category::default()
            })
            .collect(),
        source: e.sources.first().map(|o| {
            let url = o
                .feed_url
                .as_deref()
                .map(|u| crate::redact::redacted_str(u).into_owned());
            Source {
                // A local file has no URL to name its feed by.
                id: url
                    .clone()
                    .unwrap_or_else(|| format!("tag:thau,2026:sources/{}", o.name)),
                title: Text::plain(o.feed_title.clone().unwrap_or_else(|| o.name.clone())),
                // The source feed's date when the entry was taken from it.
                updated: fixed(o.feed_updated.unwrap_or(e.updated)),
                links: url.into_iter().map(|u| link(u, "self", "application/xml")).collect(),
                ..Source::default()
            }
        }),
        extensions: thumbnail(e),
        ..AtomEntry::default()
    }
}

/// An entry's picture as `media:thumbnail`.
fn thumbnail(e: &Entry) -> atom_syndication::extension::ExtensionMap {
    let Some(image) = e.image.as_deref().and_then(|i| safe_url(i, false)) else {
        return Default::default();
    };
    let element = atom_syndication::extension::Extension {
        name: "media:thumbnail".into(),
        value: None,
        attrs: [("url".to_string(), image.to_string())].into_iter().collect(),
        children: Default::default(),
    };
    [(
        "media".to_string(),
        [("thumbnail".to_string(), vec![element])].into_iter().collect(),
    )]
    .into_iter()
    .collect()
}

/// The page, the enclosures (podcasts, images), and a `via` link to each
/// other source that carried the story (atom:source names only one).
fn entry_links(e: &Entry) -> Vec<Link> {
    let mut links: Vec<Link> = e
        .link
        .iter()
        .filter_map(|l| safe_url(l, false))
        .map(|l| link(l.to_owned(), "alternate", "text/html"))
        .collect();
    for x in e.enclosures.iter().filter(|x| safe_url(&x.url, false).is_some()) {
        links.push(Link {
            href: x.url.clone(),
            rel: "enclosure".into(),
            mime_type: x.media_type.clone(),
            length: x.length.map(|n| n.to_string()),
            ..Link::default()
        });
    }
    for relay in e.sources.iter().skip(1) {
        if let Some(url) = relay.feed_url.as_deref().and_then(|u| safe_url(u, false)) {
            links.push(Link {
                href: crate::redact::redacted_str(url).into_owned(),
                rel: "via".into(),
                title: Some(relay.feed_title.clone().unwrap_or_else(|| relay.name.clone())),
                ..Link::default()
            });
        }
    }
    links
}

fn link(href: String, rel: &str, mime_type: &str) -> Link {
    Link {
        href,
        rel: rel.into(),
        mime_type: Some(mime_type.into()),
        ..Link::default()
    }
}

fn fixed(t: DateTime<Utc>) -> FixedDateTime {
    t.fixed_offset()
}
