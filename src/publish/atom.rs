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
    let out = Feed {
        title: Text::plain(section.title.clone()),
        id: format!("tag:thau,2026:sections/{}", section.slug),
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
        links: vec![
            link(feed.url(Format::Atom), "self", "application/atom+xml"),
            link(format!("{}/", feed.base_url), "alternate", "text/html"),
        ],
        lang: feed.language(),
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
        links: e
            .link
            .iter()
            .filter_map(|l| safe_url(l, false))
            .map(|l| link(l.to_owned(), "alternate", "text/html"))
            .collect(),
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
        source: e.sources.first().and_then(|o| {
            let url = crate::redact::redacted_str(o.feed_url.as_deref()?).into_owned();
            Some(Source {
                id: url.clone(),
                title: Text::plain(o.feed_title.clone().unwrap_or_else(|| o.name.clone())),
                // The source feed's date when the entry was taken from it.
                updated: fixed(o.feed_updated.unwrap_or(e.updated)),
                links: vec![link(url, "self", "application/xml")],
                ..Source::default()
            })
        }),
        ..AtomEntry::default()
    }
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
