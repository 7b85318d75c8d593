//! Pure: text and HTML as thau publishes them: titles as a reader sees
//! them (escaped text stays text), HTML sanitized with ammonia (MathML
//! kept, tracking pixels and active schemes gone, nesting bounded), texts
//! cut at `max_entry_size`, characters XML forbids dropped.

use super::*;

/// The most bytes of an entry's summary or content kept by default: far
/// above a long article's 50 KB, far below what makes a render costly.
pub const DEFAULT_MAX_TEXT: usize = 256 * 1024;

/// What ends a text cut at `max_entry_size`.
pub const CUT_MARK: &str = "<p>[…]</p>";

/// `html` cut to at most `max` bytes, before a tag (so no tag is cut in
/// half; the HTML parser closes what stays open), or as it is when short.
pub(super) fn cut_html(html: &str, max: usize) -> Option<&str> {
    if html.len() <= max {
        return None;
    }
    let mut end = max;
    while !html.is_char_boundary(end) {
        end -= 1;
    }
    let head = &html[..end];
    // Before the last tag that may be cut, unless that would drop most of it.
    let end = match head.rfind('<') {
        Some(tag) if tag >= end / 2 => tag,
        _ => end,
    };
    Some(&html[..end])
}

/// A MIME type whose Atom content is base64: neither text nor XML.
pub(super) fn is_base64_type(mime: &str) -> bool {
    let mime = mime.trim().to_ascii_lowercase();
    !(mime.starts_with("text/")
        || mime.ends_with("/xml")
        || mime.ends_with("+xml")
        || matches!(mime.as_str(), "html" | "xhtml" | "text" | ""))
}

/// Base64 that decodes to UTF-8 text.
pub(super) fn decode_base64_text(body: &str) -> Option<String> {
    use base64::Engine;
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// Whether XML 1.0 allows `c` in a document (§2.2): a JSON Feed's
/// `"a\u0001b"` or an `&#1;` would make every feed it reaches ill-formed.
pub(super) fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `s` without the characters XML forbids (nothing copied when it has none).
pub fn xml_safe(s: &mut String) {
    if !s.chars().all(xml_char) {
        s.retain(xml_char);
    }
}

/// Every text of `entry` that is published, XML-safe.
pub(super) fn xml_safe_entry(entry: &mut Entry) {
    xml_safe(&mut entry.id);
    xml_safe(&mut entry.title);
    for text in [&mut entry.summary, &mut entry.content, &mut entry.language]
        .into_iter()
        .flatten()
    {
        xml_safe(text);
    }
    for person in &mut entry.authors {
        xml_safe(&mut person.name);
        if let Some(email) = &mut person.email {
            xml_safe(email);
        }
    }
    for category in &mut entry.categories {
        xml_safe(category);
    }
    for source in &mut entry.sources {
        for text in [&mut source.guid, &mut source.feed_title].into_iter().flatten() {
            xml_safe(text);
        }
        for category in &mut source.categories {
            xml_safe(category);
        }
    }
    entry.categories.retain(|c| !c.is_empty());
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// Plain text of a text construct: markup removed, entities decoded,
/// whitespace collapsed. A title typed as text (`typed`: Atom, JSON Feed)
/// is kept as written ("History of the <blink> tag"); RSS titles are often
/// escaped HTML without saying so, so there anything that looks like markup
/// is treated as HTML.
pub(super) fn text_of(t: &Text, typed: bool) -> String {
    let s = t.content.as_str();
    if t.content_type.as_str() != "text/plain" || (!typed && text_looks_like_html(s)) {
        return collapse_whitespace(&html_to_text(s));
    }
    if typed && s.contains('&') {
        // Text escaped twice ("Sète &amp;amp; Mèze" in the XML) is common
        // enough: decode what looks like entities, keep what looks like tags.
        return collapse_whitespace(&html_to_text(&s.replace('<', "&lt;").replace('>', "&gt;")));
    }
    collapse_whitespace(s)
}

/// Whether an untyped title (RSS says nothing) is HTML, as feedparser
/// decides it: it has an end tag or an entity, and every tag in it is an
/// HTML element. `Vector<T> in Rust`, `Nice <gorilla>` and `A<B` are text:
/// the `<` the source escaped stays visible.
pub(super) fn text_looks_like_html(s: &str) -> bool {
    static END_OR_ENTITY: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"</[A-Za-z][A-Za-z0-9]*\s*>|&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
            .expect("static regex")
    });
    static TAG: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"</?([A-Za-z][A-Za-z0-9]*)").expect("static regex"));
    END_OR_ENTITY.is_match(s)
        && TAG
            .captures_iter(s)
            .all(|c| HTML_ELEMENTS.contains(&c[1].to_ascii_lowercase().as_str()))
}

/// HTML elements a title may hold (feedparser's sanitizer's list).
pub(super) const HTML_ELEMENTS: &[&str] = &[
    "a",
    "abbr",
    "acronym",
    "address",
    "area",
    "article",
    "aside",
    "audio",
    "b",
    "bdi",
    "bdo",
    "big",
    "blink",
    "blockquote",
    "body",
    "br",
    "button",
    "canvas",
    "caption",
    "center",
    "cite",
    "code",
    "col",
    "colgroup",
    "command",
    "datagrid",
    "datalist",
    "dd",
    "del",
    "details",
    "dfn",
    "dialog",
    "dir",
    "div",
    "dl",
    "dt",
    "em",
    "event-source",
    "fieldset",
    "figcaption",
    "figure",
    "font",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "html",
    "i",
    "img",
    "input",
    "ins",
    "kbd",
    "keygen",
    "label",
    "legend",
    "li",
    "m",
    "map",
    "mark",
    "menu",
    "meter",
    "multicol",
    "nav",
    "nextid",
    "noscript",
    "ol",
    "optgroup",
    "option",
    "output",
    "p",
    "pre",
    "progress",
    "q",
    "s",
    "samp",
    "section",
    "select",
    "small",
    "sound",
    "source",
    "spacer",
    "span",
    "strike",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "textarea",
    "tfoot",
    "th",
    "thead",
    "time",
    "tr",
    "tt",
    "u",
    "ul",
    "var",
    "video",
    "wbr",
];

/// Whether untyped text holds markup: a whole tag (`<b>`, `</p>`, `<br/>`)
/// or an entity (`&amp;`, `&#233;`); `A<B` and `Fish & Chips` are text.
pub(super) fn holds_markup(s: &str) -> bool {
    static MARKUP: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"<[A-Za-z/!][^<>]*>|&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
            .expect("static regex")
    });
    MARKUP.is_match(s)
}

pub fn html_to_text(html: &str) -> String {
    static TEXT_ONLY: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
        let mut b = ammonia::Builder::empty();
        b.clean_content_tags(["script", "style", "title"].into_iter().collect());
        b
    });
    let escaped = TEXT_ONLY.clean(&nesting::bound(&as_written(html))).to_string();
    unescape_serialized(&escaped)
}

/// Undoes the escaping html5ever's serializer applies to text.
pub(super) fn unescape_serialized(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// Plain text as HTML a reader sees as written: escaped, its line breaks
/// kept (`<br>`; a blank line between paragraphs stays one), so a video's
/// description or a podcast's notes do not run into one line.
pub fn plain_text_html(s: &str) -> String {
    let s = s.trim();
    if !s.contains('\n') {
        return escape_html(s);
    }
    let mut out = String::with_capacity(s.len() + 32);
    let mut blank = false;
    for (i, line) in s.lines().map(str::trim_end).enumerate() {
        if line.is_empty() {
            blank = true;
            continue;
        }
        if i > 0 {
            out.push_str(if blank { "<br>\n<br>\n" } else { "<br>\n" });
        }
        blank = false;
        out.push_str(&escape_html(line));
    }
    out
}

pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A title for an untitled entry: the start of its text, cut at a word.
pub(super) fn headline_from(html: &str) -> String {
    let text = collapse_whitespace(&html_to_text(html));
    if text.chars().count() <= 80 {
        return text;
    }
    let cut: String = text.chars().take(80).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{cut}…")
}

thread_local! {
    /// The base the HTML being sanitized on this thread resolves against.
    static HTML_BASE: RefCell<Option<Url>> = const { RefCell::new(None) };
}

/// [`sanitize_html`] of at most `max` bytes of `html` (cut as entries'
/// texts are, marked with [`CUT_MARK`]).
pub fn sanitize_capped(html: &str, base: Option<&Url>, max: usize) -> String {
    match cut_html(html, max) {
        None => sanitize_html(html, base),
        Some(head) => sanitize_html(head, base) + CUT_MARK,
    }
}

/// Hosts and paths of known tracking beacons (feed readers' "web bugs").
pub(super) const BEACONS: &[&str] = &[
    "feeds.feedburner.com/~r/",
    "feeds.feedburner.com/~ff/",
    "feedproxy.google.com/~r/",
    "feeds.feedblitz.com/~/i/",
    "pixel.wp.com/",
    "stats.wordpress.com/",
    "www.google-analytics.com/",
    "pixel.quantserve.com/",
    "pi.feedsportal.com/",
    "ad.doubleclick.net/",
    "rss.buysellads.com/",
    "feeds.wordpress.com/1.0/",
];

/// Whether an `<img>` tag is a tracking pixel: 1×1 (or 0) by its
/// `width`/`height`, or from a known beacon. Never a story's picture.
pub fn is_tracking_pixel(tag: &str) -> bool {
    static ATTR: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r#"(?i)\b(width|height|src)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))"#).expect("static regex")
    });
    let (mut tiny_w, mut tiny_h, mut beacon) = (false, false, false);
    for c in ATTR.captures_iter(tag) {
        let value = c.get(2).or(c.get(3)).or(c.get(4)).map_or("", |v| v.as_str()).trim();
        let tiny = matches!(value.trim_end_matches("px"), "0" | "1");
        match c[1].to_ascii_lowercase().as_str() {
            "width" => tiny_w = tiny,
            "height" => tiny_h = tiny,
            _ => {
                let address = value
                    .split_once("//")
                    .map_or(value, |(_, rest)| rest)
                    .to_ascii_lowercase();
                beacon = BEACONS.iter().any(|b| address.starts_with(b));
            }
        }
    }
    beacon || (tiny_w && tiny_h)
}

/// `html` read as its author wrote it where a browser's parser would hide
/// words: the fallback markup of an `<iframe>`, `<noembed>` or
/// `<noframes>` (raw text to the parser, shown as tags once the frame is
/// sanitized away) becomes markup again; a `<` that starts no tag (`<!'`,
/// an unterminated `<a` at the end) stays a visible `<`.
pub(super) fn as_written(html: &str) -> Cow<'_, str> {
    static FRAME: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"(?i)</?(?:iframe|noembed|noframes)\b[^>]*>").expect("static regex"));
    let mut out = Cow::Borrowed(html);
    if ["<i", "<I", "<n", "<N"].iter().any(|p| html.contains(p))
        && let Cow::Owned(unwrapped) = FRAME.replace_all(html, "")
    {
        out = Cow::Owned(unwrapped);
    }
    // `<!` opens a comment, a doctype or CDATA; else it is text.
    let opens = |after: &str| {
        let after = after.as_bytes();
        [&b"--"[..], b"[cdata[", b"doctype"]
            .iter()
            .any(|p| after.len() >= p.len() && after[..p.len()].eq_ignore_ascii_case(p))
    };
    let stray: Vec<usize> = out
        .match_indices("<!")
        .map(|(at, _)| at)
        .filter(|&at| !opens(&out[at + 2..]))
        .collect();
    if !stray.is_empty() {
        let mut fixed = out.into_owned();
        for at in stray.into_iter().rev() {
            fixed.replace_range(at..at + 1, "&lt;");
        }
        out = Cow::Owned(fixed);
    }
    // A last `<` that no `>` closes is no tag.
    if let Some(at) = out.rfind('<').filter(|&at| !out[at..].contains('>')) {
        let mut fixed = out.into_owned();
        fixed.replace_range(at..at + 1, "&lt;");
        out = Cow::Owned(fixed);
    }
    out
}

/// `html` without its tracking pixels.
pub(super) fn without_tracking_pixels(html: &str) -> Cow<'_, str> {
    static IMG: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"(?i)<img\b[^>]*>").expect("static regex"));
    if !html.contains("<img") && !html.contains("<IMG") {
        return Cow::Borrowed(html);
    }
    IMG.replace_all(html, |c: &regex::Captures<'_>| {
        if is_tracking_pixel(&c[0]) {
            String::new()
        } else {
            c[0].to_string()
        }
    })
}

/// Presentation MathML, kept in sanitized HTML (formulas in scientific
/// feeds): the elements only, no `href`, no `<maction>`.
pub(super) const MATHML: [&str; 31] = [
    "math",
    "mi",
    "mn",
    "mo",
    "ms",
    "mtext",
    "mspace",
    "mrow",
    "mfrac",
    "msqrt",
    "mroot",
    "mstyle",
    "merror",
    "mpadded",
    "mphantom",
    "mfenced",
    "menclose",
    "msub",
    "msup",
    "msubsup",
    "munder",
    "mover",
    "munderover",
    "mmultiscripts",
    "mprescripts",
    "none",
    "mtable",
    "mtr",
    "mtd",
    "semantics",
    "annotation",
];

/// Inline SVG drawings kept in sanitized HTML (a blog's logo, a chart, an
/// icon with its letters): shapes and text. No `use`, `image`,
/// `foreignObject`, `script`, `style` element or animation, so a drawing
/// can neither load nor run anything; ammonia checks that each element is
/// where the HTML parser puts SVG. `defs`, gradients and clip paths stay
/// so that what they hold is not drawn (ids are stripped, so nothing can
/// point at them).
pub(super) const SVG: [&str; 18] = [
    "svg",
    "g",
    "defs",
    "title",
    "desc",
    "path",
    "rect",
    "circle",
    "ellipse",
    "line",
    "polyline",
    "polygon",
    "text",
    "tspan",
    "linearGradient",
    "radialGradient",
    "stop",
    "clipPath",
];

/// What an SVG element may say about its geometry and paint (no ids, no
/// references out, no event handlers, no `style`: CSS can overlay a page
/// or call a tracker; the presentation attributes draw the same).
const SVG_ATTRIBUTES: [&str; 46] = [
    "viewBox",
    "preserveAspectRatio",
    "version",
    "baseProfile",
    "width",
    "height",
    "x",
    "y",
    "x1",
    "y1",
    "x2",
    "y2",
    "cx",
    "cy",
    "r",
    "rx",
    "ry",
    "fx",
    "fy",
    "dx",
    "dy",
    "d",
    "points",
    "transform",
    "fill",
    "fill-opacity",
    "fill-rule",
    "stroke",
    "stroke-width",
    "stroke-opacity",
    "stroke-linecap",
    "stroke-linejoin",
    "stroke-dasharray",
    "opacity",
    "clip-rule",
    "font-size",
    "font-family",
    "font-weight",
    "font-style",
    "text-anchor",
    "dominant-baseline",
    "offset",
    "stop-color",
    "stop-opacity",
    "gradientUnits",
    "gradientTransform",
];

/// Sanitizes HTML with ammonia (no script, style, iframe, event handlers or
/// `javascript:` URLs), making every relative `href`/`src` absolute against
/// `base`, or dropping it when there is no base to resolve it against.
pub fn sanitize_html(html: &str, base: Option<&Url>) -> String {
    // One builder for every base (building one costs more than cleaning a
    // short summary); the base is handed over through a thread-local.
    static HTML: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
        let mut b = ammonia::Builder::default();
        // Links readers can follow safely: the web, mail and phone numbers
        // (a town hall's). Not ammonia's longer default list (ftp, irc,
        // magnet, sms…).
        b.url_schemes(["http", "https", "mailto", "tel"].into_iter().collect());
        b.url_relative(ammonia::UrlRelative::Custom(Box::new(absolute)));
        // MathML a reader sees (presentation markup: no links, no scripts).
        b.add_tags(MATHML);
        // SVG drawings, with their text (a logo's letters).
        b.add_tags(SVG);
        for tag in SVG {
            b.add_tag_attributes(tag, SVG_ATTRIBUTES);
        }
        b.add_generic_attributes([
            "mathvariant",
            "display",
            "displaystyle",
            "stretchy",
            "fence",
            "separator",
            "accent",
        ]);
        // ammonia checks the schemes of href and src, not of `cite`
        // (blockquote, q, del, ins): made absolute http(s), or dropped.
        b.attribute_filter(|_, attribute, value| match attribute {
            "cite" => absolute(value).map(|v| Cow::Owned(v.into_owned())),
            _ => Some(Cow::Borrowed(value)),
        });
        b
    });
    fn absolute(relative: &str) -> Option<Cow<'_, str>> {
        // What leaves here is not checked again by ammonia: only http(s).
        HTML_BASE.with_borrow(|base| Some(Cow::Owned(http_url(relative, base.as_ref())?.into())))
    }
    let html = html.trim();
    if !html.contains(['<', '&']) {
        // Plain text: nothing to clean, and html5ever's set-up is the
        // larger part of cleaning a short summary.
        return escape_html(html);
    }
    HTML_BASE.set(base.filter(|b| matches!(b.scheme(), "http" | "https")).cloned());
    let html = as_written(html);
    let html = without_tracking_pixels(&html);
    let clean = HTML.clean(&nesting::bound(&html)).to_string();
    HTML_BASE.set(None);
    clean.trim().to_string()
}

#[cfg(test)]
mod sanitizer_tests {
    #[test]
    fn tracking_pixels_leave_and_pictures_stay() {
        let html = r#"<p>Texte</p><img src="https://feeds.feedburner.com/~r/x/~4/abc" height="1" width="1" alt=""><img src="https://pixel.wp.com/b.gif?x=1"><img src="https://x.example/a.gif" width="1" height="1"><img src="https://x.example/photo.jpg" width="640" height="1">"#;
        let out = super::sanitize_html(html, None);
        assert!(
            !out.contains("feedburner") && !out.contains("pixel.wp.com") && !out.contains("a.gif"),
            "{out}"
        );
        assert!(out.contains("photo.jpg"), "{out}");
    }

    #[test]
    fn mathml_is_kept() {
        let html = r#"<p>Aire : <math xmlns="http://www.w3.org/1998/Math/MathML"><mi>π</mi><msup><mi>r</mi><mn>2</mn></msup></math></p><math><maction actiontype="toggle"><mi>x</mi></maction></math>"#;
        let out = super::sanitize_html(html, None);
        assert!(
            out.contains("<math") && out.contains("<msup><mi>r</mi><mn>2</mn></msup>"),
            "{out}"
        );
        assert!(!out.contains("maction"), "{out}");
    }

    #[test]
    fn svg_drawings_keep_their_shapes_and_text_and_lose_anything_active() {
        let logo = r##"<svg style="float:right;position:fixed" xmlns="http://www.w3.org/2000/svg" width="100" viewBox="0 0 100 100" onload="alert(1)"><title>Logo</title><path d="M4,14h92" stroke="#4682b4"></path><text x="50" y="90" font-size="90"><![CDATA[W]]></text></svg><p>Texte</p>"##;
        let out = super::sanitize_html(logo, None);
        for kept in [
            r#"viewBox="0 0 100 100""#,
            "<title>Logo</title>",
            r#"d="M4,14h92""#,
            ">W</text>",
        ] {
            assert!(out.contains(kept), "{kept} missing from {out}");
        }
        for gone in ["onload", "style"] {
            assert!(!out.contains(gone), "{gone} left in {out}");
        }
        let active = [
            r##"<svg><a href="javascript:alert(1)"><text>x</text></a></svg>"##,
            r##"<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>"##,
            r##"<svg><animate attributeName="href" values="javascript:alert(1)"/></svg>"##,
            r##"<svg><set attributeName="onmouseover" to="alert(1)"/></svg>"##,
            r##"<svg><use href="https://tracker.example/s.svg#a"/></svg>"##,
            r##"<svg><image href="https://tracker.example/p.gif"/></svg>"##,
            r##"<svg><script>alert(1)</script></svg>"##,
            r##"<svg><style>*{background:url(https://tracker.example/)}</style></svg>"##,
            r##"<svg><foreignObject><iframe src="https://x.example/"></iframe></foreignObject></svg>"##,
            r##"<svg><rect id="x" fill="red"/></svg>"##,
        ];
        for html in active {
            let out = super::sanitize_html(html, None);
            for gone in ["javascript", "alert", "tracker", "iframe", "<use", "<image", "id="] {
                assert!(!out.contains(gone), "{gone} left of {html}: {out}");
            }
        }
    }
}
