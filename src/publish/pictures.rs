//! A story's pictures as the pages show them: which picture leads it, the
//! words its source gave it, and their `/img/` addresses when thau serves
//! them (`[site] image_proxy`). Reads sanitized HTML as html5ever writes it:
//! lowercase names, double-quoted values, `&` as `&amp;`.

use sha2::{Digest, Sha256};

use super::safe_url;
use crate::model::Entry;
use crate::normalize::{escape_html as esc, hex, html_to_text};

/// The story's picture: an image enclosure (`media:content`,
/// `media:thumbnail`, an RSS enclosure), else the first image of its text.
pub fn image(e: &Entry) -> Option<&str> {
    // The picture the source named (media:thumbnail, itunes:image).
    if let Some(image) = e.image.as_deref().and_then(|i| safe_url(i, false)) {
        return Some(image);
    }
    let is_image = |url: &str, media_type: Option<&str>| match media_type {
        Some(t) => t.starts_with("image/"),
        None => {
            let path = url.split(['?', '#']).next().unwrap_or(url).to_ascii_lowercase();
            [".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif"]
                .iter()
                .any(|ext| path.ends_with(ext))
        }
    };
    if let Some(x) = e
        .enclosures
        .iter()
        .find(|x| is_image(&x.url, x.media_type.as_deref()) && safe_url(&x.url, false).is_some())
    {
        return Some(&x.url);
    }
    [e.summary.as_deref(), e.content.as_deref()]
        .into_iter()
        .flatten()
        .find_map(first_img_src)
        .filter(|u| safe_url(u, false).is_some())
}

/// The `src` of the first `<img>` of sanitized HTML that is no tracking
/// pixel (stored before they were stripped). An `&amp;` in the URL would
/// need unescaping: such an image is left out.
fn first_img_src(html: &str) -> Option<&str> {
    let (_, tag) = img_tags(html).find(|(_, tag)| !crate::normalize::is_tracking_pixel(tag))?;
    let (_, src) = attribute(tag, "src")?;
    (!src.contains('&')).then_some(src)
}

/// A picture's id in its `/img/{id}` address.
pub fn picture_id(url: &str) -> String {
    hex(&Sha256::digest(url.as_bytes())[..12])
}

/// Every picture a story's pages show: its picture, and the images of its
/// summary and text.
pub fn pictures(e: &Entry) -> Vec<String> {
    let mut all: Vec<String> = image(e).map(str::to_string).into_iter().collect();
    for html in [e.summary.as_deref(), e.content.as_deref()].into_iter().flatten() {
        map_img_srcs(html, |src| {
            all.push(unescape_attribute(src));
            String::new()
        });
    }
    all
}

/// Sanitized HTML with the `src` of each `<img>` replaced by `f(src)`.
pub(super) fn map_img_srcs(html: &str, mut f: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(html.len());
    let mut copied = 0;
    for (at, tag) in img_tags(html) {
        if let Some((start, src)) = attribute(tag, "src") {
            out.push_str(&html[copied..at + start]);
            out.push_str(&f(src));
            copied = at + start + src.len();
        }
    }
    out.push_str(&html[copied..]);
    out
}

/// Each `<img …` tag of sanitized HTML (up to its `>`), with where it starts.
fn img_tags(html: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut from = 0;
    std::iter::from_fn(move || {
        let at = html[from..].find("<img ")? + from;
        let end = at + html[at..].find('>')?;
        from = end;
        Some((at, &html[at..end]))
    })
}

/// An attribute's value in a tag, as written, with where it starts.
fn attribute<'t>(tag: &'t str, name: &str) -> Option<(usize, &'t str)> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = tag[start..].find('"')?;
    Some((start, &tag[start..start + len]))
}

/// An attribute's value as html5ever escapes it, unescaped.
pub(super) fn unescape_attribute(value: &str) -> String {
    value
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// A picture's `alt`, HTML-escaped: the words the source gave it (the
/// `alt` of the `<img>` in its text), else empty, for a picture the
/// headline beside it already names.
pub(super) fn image_alt(e: &Entry, src: &str) -> String {
    let wanted = format!(" src=\"{src}\"");
    [e.summary.as_deref(), e.content.as_deref()]
        .into_iter()
        .flatten()
        .find_map(|html| {
            let (_, tag) = img_tags(html).find(|(_, tag)| tag.contains(&wanted))?;
            let (_, alt) = attribute(tag, "alt")?;
            Some(esc(html_to_text(alt).trim()))
        })
        .unwrap_or_default()
}
