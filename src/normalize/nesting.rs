//! Pure: HTML nested deeper than a reader could ever see, flattened before
//! html5ever parses it. html5ever's cost grows with the square of the
//! nesting depth (one entry of 40,000 nested `<div>`s took seconds to
//! sanitize, 500,000 took minutes), so tags beyond [`MAX_DEPTH`] are
//! dropped, their text kept. A byte-level pass: the result still goes
//! through ammonia, which alone decides what is safe.

use std::borrow::Cow;

/// Deeper than any real article (they stay under 30), shallow enough that
/// html5ever stays linear.
pub const MAX_DEPTH: usize = 100;

/// Elements that never have an end tag: they do not nest.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr",
];

/// `html` with every start and end tag beyond [`MAX_DEPTH`] removed.
pub fn bound(html: &str) -> Cow<'_, str> {
    // Cheap test first: shallow documents have few tags.
    if memchr::memchr_iter(b'<', html.as_bytes()).count() <= MAX_DEPTH {
        return Cow::Borrowed(html);
    }
    let bytes = html.as_bytes();
    let mut out = String::with_capacity(html.len());
    let (mut depth, mut kept_from, mut changed) = (0usize, 0usize, false);
    let mut at = 0;
    while let Some(offset) = memchr::memchr(b'<', &bytes[at..]) {
        let start = at + offset;
        let rest = &html[start..];
        // A comment or a declaration is text here, whatever it holds.
        if rest.starts_with("<!--") {
            at = rest.find("-->").map_or(html.len(), |end| start + end + 3);
            continue;
        }
        let Some(len) = rest.find('>').map(|end| end + 1) else {
            break;
        };
        let tag = &rest[1..len - 1];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        at = start + len;
        if name.is_empty() {
            continue;
        }
        let nests = !VOID.contains(&name.as_str()) && !tag.ends_with('/');
        let drop = if closing {
            let beyond = depth > MAX_DEPTH;
            depth = depth.saturating_sub(1);
            beyond
        } else if nests {
            depth += 1;
            depth > MAX_DEPTH
        } else {
            depth >= MAX_DEPTH
        };
        if drop {
            out.push_str(&html[kept_from..start]);
            kept_from = at;
            changed = true;
        }
    }
    if !changed {
        return Cow::Borrowed(html);
    }
    out.push_str(&html[kept_from..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shallow_html_is_untouched() {
        let html = "<p>Sète <b>et</b> <a href=\"x\">Mèze</a><br><img src=y/></p><!-- <div> -->";
        assert!(matches!(bound(html), Cow::Borrowed(_)));
    }

    #[test]
    fn tags_beyond_the_limit_go_their_text_stays() {
        let deep = format!("{}texte{}<p>après</p>", "<div>".repeat(150), "</div>".repeat(150));
        let out = bound(&deep);
        assert_eq!(out.matches("<div>").count(), MAX_DEPTH);
        assert_eq!(out.matches("</div>").count(), MAX_DEPTH);
        assert!(out.contains("texte") && out.ends_with("<p>après</p>"), "{out}");
    }
}
