//! Pure: links as thau keeps them (absolute, canonical, http(s) only;
//! fragments that name an entry kept) and the feeds a web page announces.

use super::*;

pub(super) fn looks_like_html(bytes: &[u8]) -> bool {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(0);
    let head = bytes[start..bytes.len().min(start + 15)].to_ascii_lowercase();
    head.starts_with(b"<!doctype html") || head.starts_with(b"<html")
}

/// The most feeds taken from a page's announcements: a page that lists
/// thousands costs no more than one that lists a few, and the error that
/// names them stays short.
pub const MAX_ANNOUNCED_FEEDS: usize = 8;

/// The feeds a web page announces (`<link rel="alternate" type="application/rss+xml" href>`,
/// Atom and JSON Feed alike), made absolute against the page's URL: the
/// first [`MAX_ANNOUNCED_FEEDS`].
pub(super) fn discover_feeds(html: &[u8], page: Option<&Url>) -> Vec<String> {
    static LINK: LazyLock<regex::bytes::Regex> =
        LazyLock::new(|| regex::bytes::Regex::new(r"(?is)<link\b[^>]*>").expect("valid regex"));
    static ATTR: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
        regex::bytes::Regex::new(r#"(?is)([a-z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))"#).expect("valid regex")
    });
    // Attribute values are HTML: `&amp;` in an href is `&`.
    let unescape = |v: &str| quick_xml::escape::unescape(v).map_or_else(|_| v.to_string(), |u| u.into_owned());
    let mut feeds = Vec::new();
    for link in LINK.find_iter(html) {
        let (mut rel, mut kind, mut href) = (String::new(), String::new(), None);
        for a in ATTR.captures_iter(link.as_bytes()) {
            let value = a
                .get(2)
                .or(a.get(3))
                .or(a.get(4))
                .map_or("".into(), |v| String::from_utf8_lossy(v.as_bytes()));
            match a[1].to_ascii_lowercase().as_slice() {
                b"rel" => rel = value.to_ascii_lowercase(),
                b"type" => kind = value.trim().to_ascii_lowercase(),
                b"href" => href = Some(unescape(value.trim())),
                _ => {}
            }
        }
        let is_feed = matches!(
            kind.as_str(),
            "application/rss+xml" | "application/atom+xml" | "application/feed+json" | "application/json"
        );
        if rel.split_whitespace().any(|r| r == "alternate")
            && is_feed
            && let Some(url) = href.and_then(|h| http_url(&h, page))
            && !feeds.contains(&url.to_string())
        {
            feeds.push(url.to_string());
            if feeds.len() == MAX_ANNOUNCED_FEEDS {
                break;
            }
        }
    }
    feeds
}

/// Whether a link feed-rs gives is an enclosure (podcast audio, images).
pub(super) fn is_enclosure(link: &fm::Link, kind: Kind) -> bool {
    link.rel.as_deref() == Some("enclosure") || (kind == Kind::Json && link.rel.is_none() && link.media_type.is_some())
}

/// An author's page or address: http(s) or mailto only.
pub(super) fn author_uri(uri: &str) -> Option<String> {
    let url = Url::parse(uri.trim()).ok()?;
    matches!(url.scheme(), "http" | "https" | "mailto").then(|| url.to_string())
}

/// Query parameters that only track readers; they make one story look like many.
pub(super) const TRACKING_PARAMS: &[&str] = &[
    "fbclid",
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "yclid",
    "twclid",
    "igshid",
    "mc_cid",
    "mc_eid",
    "_hsenc",
    "_hsmi",
    "mkt_tok",
    "oly_anon_id",
    "oly_enc_id",
    "vero_id",
    "vero_conv",
    "wt_mc",
    "xtor",
];

/// An absolute http(s) URL: resolved against `base`, fragment dropped, host
/// lowercased, default port dropped, tracking parameters removed.
pub fn canonical_url(href: &str, base: Option<&Url>) -> Option<Url> {
    let mut url = http_url(href, base)?;
    if url.fragment().is_some_and(|f| !identifying_fragment(f)) {
        url.set_fragment(None);
    }
    if url.query().is_some() {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| {
                let k = k.to_ascii_lowercase();
                !k.starts_with("utm_") && !TRACKING_PARAMS.contains(&k.as_str())
            })
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let before = url.query_pairs().count();
        if kept.is_empty() {
            url.set_query(None);
        } else if kept.len() != before {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    Some(url)
}

/// Whether a link's fragment names an entry of its page (a live blog's
/// `#update-3`, a forum's `#post-1234`) rather than a place in it
/// (`#comments`, `#more-123`, `#top`) or tracking (`#xtor=RSS-3`,
/// AddThis's `#.UxYz`): such a fragment is part of the story's address.
pub(super) fn identifying_fragment(fragment: &str) -> bool {
    static PLACE: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(
            r"(?i)^(?:comments?|commentaires?|respond|reply|reponse|réponse|more(?:-\d+)?|top|haut|content|contenu|main|article|story|page|disqus_thread|comment-\d+|share|partage|read-?more|lire-la-suite|continue|suite|footer|header|nav|menu)$",
        )
        .expect("static regex")
    });
    let fragment = fragment.trim();
    !(fragment.is_empty() || fragment.contains('=') || fragment.starts_with('.') || PLACE.is_match(fragment))
}

pub(super) fn http_url(href: &str, base: Option<&Url>) -> Option<Url> {
    let href = href.trim();
    if href.is_empty() {
        return None;
    }
    let url = match base {
        Some(base) => base.join(href).ok()?,
        None => Url::parse(href).ok()?,
    };
    matches!(url.scheme(), "http" | "https").then_some(url)
}
