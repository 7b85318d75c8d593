//! JSON Feed 1.1 (serde), with the same content as the XML formats. Origin
//! feeds go in the `_thau` extension object of each item.

use serde::Serialize;

use super::{Format, SectionFeed, public_id, safe_url};
use crate::model::Entry;
use crate::normalize::html_to_text;

#[derive(Serialize)]
struct JsonFeed<'a> {
    version: &'static str,
    title: &'a str,
    home_page_url: String,
    feed_url: String,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<String>,
    /// Older items: the archive page before this document.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_url: Option<String>,
    /// The WebSub hub (JSON Feed 1.1 `hubs`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hubs: Vec<Hub<'a>>,
    /// The section's `logo`.
    #[serde(skip_serializing_if = "Option::is_none")]
    icon: Option<String>,
    /// The section's `icon`.
    #[serde(skip_serializing_if = "Option::is_none")]
    favicon: Option<String>,
    items: Vec<Item<'a>>,
}

#[derive(Serialize)]
struct Hub<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    url: &'a str,
}

#[derive(Serialize)]
struct Item<'a> {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_html: Option<&'a str>,
    /// JSON Feed requires `content_html` or `content_text`: an entry with
    /// no text gets an empty `content_text`.
    #[serde(skip_serializing_if = "Option::is_none")]
    content_text: Option<&'static str>,
    /// Plain text, as JSON Feed defines it.
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<String>,
    date_published: String,
    date_modified: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authors: Vec<Author<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tags: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<&'a str>,
    /// Its picture.
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<Attachment<'a>>,
    _thau: Extension<'a>,
}

#[derive(Serialize)]
struct Author<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
}

#[derive(Serialize)]
struct Attachment<'a> {
    url: &'a str,
    mime_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    size_in_bytes: Option<u64>,
    /// A podcast episode's length (`itunes:duration`).
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_in_seconds: Option<u64>,
}

/// `itunes:duration` (`1:02:03`, `62:03`, `3723`) in seconds.
fn seconds(duration: &str) -> Option<u64> {
    duration
        .trim()
        .split(':')
        .try_fold(0u64, |total, part| Some(total * 60 + part.trim().parse::<u64>().ok()?))
}

#[derive(Serialize)]
struct Extension<'a> {
    sources: Vec<Origin<'a>>,
}

#[derive(Serialize)]
struct Origin<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    feed_url: Option<std::borrow::Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    feed_title: Option<&'a str>,
}

pub fn json_feed(feed: &SectionFeed<'_>) -> Vec<u8> {
    let doc = JsonFeed {
        version: "https://jsonfeed.org/version/1.1",
        title: &feed.section.title,
        home_page_url: feed.page_url(),
        feed_url: feed.url(Format::Json),
        description: feed.description(),
        language: feed.language(),
        next_url: feed
            .archive_links(Format::Json)
            .into_iter()
            .find(|(rel, _)| *rel == "prev-archive")
            .map(|(_, href)| href),
        hubs: feed.hub.map(|url| Hub { kind: "WebSub", url }).into_iter().collect(),
        icon: feed.section.logo.as_ref().map(|l| l.to_string()),
        favicon: feed.section.icon.as_ref().map(|l| l.to_string()),
        items: feed.entries.iter().map(|e| item(e)).collect(),
    };
    let mut out = serde_json::to_vec_pretty(&doc).expect("plain data serializes");
    out.push(b'\n');
    out
}

fn item(e: &Entry) -> Item<'_> {
    Item {
        id: public_id(e),
        url: e.link.as_deref().and_then(|l| safe_url(l, false)),
        title: &e.title,
        content_html: e.content.as_deref().or(e.summary.as_deref()),
        content_text: (e.content.is_none() && e.summary.is_none()).then_some(""),
        summary: e.summary.as_deref().map(html_to_text),
        date_published: e.published.to_rfc3339(),
        date_modified: e.updated.to_rfc3339(),
        authors: e
            .authors
            .iter()
            .map(|a| Author {
                name: &a.name,
                url: a.uri.as_deref().and_then(|u| safe_url(u, true)),
            })
            .collect(),
        tags: &e.categories,
        language: e.language.as_deref(),
        image: e.image.as_deref().and_then(|i| safe_url(i, false)),
        attachments: e
            .enclosures
            .iter()
            .filter(|x| safe_url(&x.url, false).is_some())
            .map(|x| Attachment {
                url: &x.url,
                mime_type: x.media_type.as_deref().unwrap_or("application/octet-stream"),
                size_in_bytes: x.length,
                duration_in_seconds: e.duration.as_deref().and_then(seconds),
            })
            .collect(),
        _thau: Extension {
            sources: e
                .sources
                .iter()
                .map(|s| Origin {
                    name: &s.name,
                    feed_url: s.feed_url.as_deref().map(crate::redact::redacted_str),
                    feed_title: s.feed_title.as_deref(),
                })
                .collect(),
        },
    }
}
