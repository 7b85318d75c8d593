//! RSS 2.0 with the `rss` crate: `content:encoded` for the full text,
//! `dc:creator` for authors, `atom:link rel="self"`, `<source>` for the
//! origin feed.

use std::collections::BTreeMap;

use rss::extension::atom::{AtomExtension, Link};
use rss::extension::dublincore::DublinCoreExtension;
use rss::{Category, Channel, Enclosure, Guid, Item, Source};

use super::{Format, SectionFeed, id_is_permalink, public_id, safe_url};

const ITUNES_NS: &str = "http://www.itunes.com/dtds/podcast-1.0.dtd";
const MEDIA_NS: &str = "http://search.yahoo.com/mrss/";

pub fn rss(feed: &SectionFeed<'_>) -> Vec<u8> {
    // Declared explicitly: a merged feed that loses one is not XML.
    let mut namespaces: BTreeMap<String, String> = [
        ("atom", "http://www.w3.org/2005/Atom"),
        ("content", "http://purl.org/rss/1.0/modules/content/"),
        ("dc", "http://purl.org/dc/elements/1.1/"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut links = vec![Link {
        href: feed.url(Format::Rss),
        rel: "self".into(),
        mime_type: Some(Format::Rss.media_type().into()),
        ..Link::default()
    }];
    for (rel, href) in feed.archive_links(Format::Rss) {
        links.push(Link {
            href,
            rel: rel.into(),
            mime_type: Some(Format::Rss.media_type().into()),
            ..Link::default()
        });
    }
    if let Some(hub) = feed.hub {
        links.push(Link {
            href: hub.to_string(),
            rel: "hub".into(),
            ..Link::default()
        });
    }
    // `<fh:archive/>` on an archive page (RFC 5005 §4).
    let mut extensions = rss::extension::ExtensionMap::new();
    if matches!(feed.kind, super::FeedKind::Archive(_)) {
        namespaces.insert("fh".into(), super::FEED_HISTORY_NS.into());
        let archive = rss::extension::Extension {
            name: "fh:archive".into(),
            ..Default::default()
        };
        extensions
            .entry("fh".into())
            .or_default()
            .insert("archive".into(), vec![archive]);
    }
    // Podcasts and pictures: declared when the feed uses them.
    let podcast = feed.entries.iter().any(|e| e.duration.is_some());
    if podcast || feed.section.logo.is_some() || feed.entries.iter().any(|e| e.image.is_some()) {
        namespaces.insert("itunes".into(), ITUNES_NS.into());
    }
    if feed.entries.iter().any(|e| e.image.is_some()) {
        namespaces.insert("media".into(), MEDIA_NS.into());
    }
    let logo = feed.section.logo.as_ref().map(|l| l.to_string());
    let channel = Channel {
        image: logo.clone().map(|url| rss::Image {
            url,
            title: feed.section.title.clone(),
            link: feed.page_url(),
            ..rss::Image::default()
        }),
        itunes_ext: logo.map(|image| rss::extension::itunes::ITunesChannelExtension {
            image: Some(image),
            ..Default::default()
        }),
        title: feed.section.title.clone(),
        link: feed.page_url(),
        description: feed.description(),
        copyright: feed.section.copyright.clone(),
        language: feed.language(),
        last_build_date: Some(feed.updated().to_rfc2822()),
        generator: Some("thau".into()),
        namespaces,
        atom_ext: Some(AtomExtension { links }),
        extensions,
        items: feed.entries.iter().map(|e| item(e)).collect(),
        ..Channel::default()
    };
    let mut out = channel
        .pretty_write_to(Vec::new(), b' ', 1)
        .expect("writing to memory does not fail");
    out.push(b'\n');
    out
}

/// An entry's title (plain text) as RSS carries it. Many readers take an
/// RSS title for entity-encoded HTML, so a title holding what looks like a
/// tag (`<img src=x onerror=…>` from an Atom text title) is HTML-escaped
/// once before the XML writer escapes it again: readers see text, never a
/// tag. (feedparser then shows the escaped form; a title such as
/// `a < b` is left as it is.)
fn rss_title(title: &str) -> String {
    let looks_like_a_tag = title
        .as_bytes()
        .windows(2)
        .any(|w| w[0] == b'<' && (w[1].is_ascii_alphabetic() || matches!(w[1], b'/' | b'!' | b'?')));
    if looks_like_a_tag {
        crate::normalize::escape_html(title)
    } else {
        title.to_string()
    }
}

fn item(e: &crate::model::Entry) -> Item {
    let origin = e.sources.first();
    Item {
        title: Some(rss_title(&e.title)),
        link: e.link.as_deref().and_then(|l| safe_url(l, false)).map(str::to_owned),
        // Readers that ignore content:encoded still get the text.
        description: e.summary.clone().or_else(|| e.content.clone()),
        content: e.content.clone(),
        guid: Some(Guid {
            value: public_id(e),
            permalink: id_is_permalink(e),
        }),
        pub_date: Some(e.published.to_rfc2822()),
        categories: e
            .categories
            .iter()
            .map(|c| Category {
                name: c.clone(),
                domain: None,
            })
            .collect(),
        enclosure: e
            .enclosures
            .iter()
            .find(|x| safe_url(&x.url, false).is_some())
            .map(|x| Enclosure {
                url: x.url.clone(),
                length: x.length.unwrap_or(0).to_string(),
                mime_type: x
                    .media_type
                    .clone()
                    .unwrap_or_else(|| "application/octet-stream".into()),
            }),
        dublin_core_ext: (!e.authors.is_empty()).then(|| DublinCoreExtension {
            creators: e.authors.iter().map(|a| a.name.clone()).collect(),
            ..DublinCoreExtension::default()
        }),
        source: origin.and_then(|o| {
            Some(Source {
                url: crate::redact::redacted_str(o.feed_url.as_deref()?).into_owned(),
                title: o.feed_title.clone(),
            })
        }),
        extensions: item_extensions(e),
        itunes_ext: (e.image.is_some() || e.duration.is_some()).then(|| rss::extension::itunes::ITunesItemExtension {
            image: e.image.clone(),
            duration: e.duration.clone(),
            ..Default::default()
        }),
        ..Item::default()
    }
}

/// An entry's `atom:link rel="via"` links and its `media:thumbnail`.
fn item_extensions(e: &crate::model::Entry) -> rss::extension::ExtensionMap {
    let mut map = via_links(e);
    if let Some(image) = e.image.as_deref().and_then(|i| safe_url(i, false)) {
        let thumbnail = rss::extension::Extension {
            name: "media:thumbnail".into(),
            value: None,
            attrs: [("url".to_string(), image.to_string())].into_iter().collect(),
            children: BTreeMap::new(),
        };
        map.entry("media".into())
            .or_default()
            .insert("thumbnail".into(), vec![thumbnail]);
    }
    map
}

/// RSS has one `<source>`: every other source that carried the story is
/// an `atom:link rel="via"`, as in the Atom feed.
fn via_links(e: &crate::model::Entry) -> rss::extension::ExtensionMap {
    let links: Vec<rss::extension::Extension> = e
        .sources
        .iter()
        .skip(1)
        .filter_map(|relay| {
            let url = relay.feed_url.as_deref().and_then(|u| super::safe_url(u, false))?;
            let title = relay.feed_title.clone().unwrap_or_else(|| relay.name.clone());
            Some(rss::extension::Extension {
                name: "atom:link".into(),
                value: None,
                attrs: [
                    ("rel".to_string(), "via".to_string()),
                    ("href".to_string(), crate::redact::redacted_str(url).into_owned()),
                    ("title".to_string(), title),
                ]
                .into_iter()
                .collect(),
                children: BTreeMap::new(),
            })
        })
        .collect();
    if links.is_empty() {
        return BTreeMap::new();
    }
    [("atom".to_string(), [("link".to_string(), links)].into_iter().collect())]
        .into_iter()
        .collect()
}
