//! Pure: HTML bounded before html5ever parses it, whatever its spelling.
//! html5ever's cost grows with the square of the nesting depth (one entry
//! of 40,000 nested `<div>`s took seconds to sanitize, 500,000 took
//! minutes) and its memory with the number of elements, so tags beyond
//! [`MAX_DEPTH`] levels, and beyond [`MAX_TAGS`] in all, are dropped, their
//! text kept. Depth is counted as an HTML parser counts it: `<div/>` opens
//! a `div` (only void elements do not nest), an end tag closes only an
//! element that is open (`</x>` with no `<x>` closes nothing), and a
//! comment ends at `-->`, `--!>` or an abrupt `<!-->`. A byte-level pass:
//! the result still goes through ammonia, which alone decides what is
//! safe. Used on feed content, scraped pages and full-text articles.

use std::borrow::Cow;
use std::collections::HashMap;

/// Deeper than any real article (they stay under 30), shallow enough that
/// html5ever stays linear.
pub const MAX_DEPTH: usize = 100;

/// More elements than any real page has (a long article has a few
/// thousand; a news front page, 20,000): past it, tags are dropped, so
/// that one entry of a million sibling elements does not take hundreds of
/// megabytes as a DOM.
pub const MAX_TAGS: usize = 50_000;

/// Elements that never have an end tag: they do not nest.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr",
];

/// `html` with every start and end tag beyond [`MAX_DEPTH`] levels, or
/// beyond the first [`MAX_TAGS`], removed (their text stays).
pub fn bound(html: &str) -> Cow<'_, str> {
    // Cheap test first: shallow documents have few tags.
    if memchr::memchr_iter(b'<', html.as_bytes()).count() <= MAX_DEPTH {
        return Cow::Borrowed(html);
    }
    let bytes = html.as_bytes();
    let mut out = String::new();
    let (mut kept_from, mut changed) = (0usize, false);
    // The open elements, and how many of each name are open (an end tag
    // closes the innermost of its name and what is inside it).
    let mut open: Vec<String> = Vec::new();
    let mut open_by_name: HashMap<String, usize> = HashMap::new();
    let mut tags = 0usize;
    let mut at = 0;
    while let Some(offset) = memchr::memchr(b'<', &bytes[at..]) {
        let start = at + offset;
        let rest = &html[start..];
        // A comment is text here, whatever it holds (html5ever ends it
        // the same way).
        if let Some(body) = rest.strip_prefix("<!--") {
            at = start + 4 + comment_length(body);
            continue;
        }
        let Some(len) = rest.find('>').map(|end| end + 1) else {
            break;
        };
        let tag = &rest[1..len - 1];
        at = start + len;
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == ':')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            // `<!DOCTYPE …>`, `<?…>`, `< 3`: not elements.
            continue;
        }
        tags += 1;
        let drop = if closing {
            match open_by_name.get(&name).copied().unwrap_or(0) {
                // Closes nothing (html5ever ignores it, after a walk of
                // its open elements): dropped.
                0 => true,
                _ => {
                    let beyond = open.len() > MAX_DEPTH;
                    while let Some(top) = open.pop() {
                        if let Some(n) = open_by_name.get_mut(&top) {
                            *n -= 1;
                        }
                        if top == name {
                            break;
                        }
                    }
                    beyond || tags > MAX_TAGS
                }
            }
        } else if VOID.contains(&name.as_str()) {
            open.len() >= MAX_DEPTH || tags > MAX_TAGS
        } else if open.len() >= MAX_DEPTH || tags > MAX_TAGS {
            // Not opened at all: its end tag will close nothing.
            true
        } else {
            *open_by_name.entry(name.clone()).or_default() += 1;
            open.push(name);
            false
        };
        if drop {
            if !changed {
                out.reserve(html.len());
            }
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

/// Where the comment whose text starts `body` (after `<!--`) ends,
/// counted from `body`'s start: after `-->` or `--!>`, at once for `>` and
/// `->` (an abrupt `<!-->`), or at the end of the text.
fn comment_length(body: &str) -> usize {
    if body.starts_with('>') {
        return 1;
    }
    if body.starts_with("->") {
        return 2;
    }
    let bytes = body.as_bytes();
    let mut from = 0;
    while let Some(offset) = memchr::memmem::find(&bytes[from..], b"--") {
        let dashes = from + offset;
        let after = &body[dashes + 2..];
        if after.starts_with('>') {
            return dashes + 3;
        }
        if after.starts_with("!>") {
            return dashes + 4;
        }
        from = dashes + 1;
    }
    body.len()
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

    #[test]
    fn every_spelling_of_deep_nesting_is_bounded() {
        for deep in [
            // `<div/>` opens a div in HTML.
            "<div/>".repeat(1000),
            // An end tag that closes nothing does not lower the depth.
            "<div></x>".repeat(1000),
            // `--!>` ends a comment: what follows is markup.
            format!("<!-- x --!>{}", "<div>".repeat(1000)),
            format!("<!-->{}", "<span>".repeat(1000)),
        ] {
            let out = bound(&deep);
            let opened = out.matches("<div").count() + out.matches("<span").count();
            assert!(opened <= MAX_DEPTH, "{opened} kept of {}", &deep[..30]);
        }
    }

    #[test]
    fn a_million_siblings_are_cut_to_the_tag_budget() {
        let wide = "<p>mot</p>".repeat(100_000);
        let out = bound(&wide);
        assert_eq!(out.matches("<p>").count(), MAX_TAGS / 2);
        assert_eq!(out.matches("mot").count(), 100_000, "the text stays");
    }
}
