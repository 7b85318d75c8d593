//! A fuzz-style property test: corpus documents mutated at random (bytes
//! flipped, hostile snippets inserted, cut short, parts repeated) and
//! random tag soup, each ingested and published. Whatever the input: no
//! panic, bounded time, and nothing published carries a URL that is not
//! http(s) (mailto and tel in HTML content) or an event handler. Each
//! failure it found is a named regression test in `tests/security.rs` or a
//! unit test beside the code. Deterministic: the same seed, the same
//! documents (`THAU_FUZZ_SEED`, `THAU_FUZZ_CASES` to explore further).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use chrono::{TimeZone, Utc};
use thau::model::Entry;
use thau::normalize::{self, DocContext};
use thau::publish::{Format, SectionFeed};

/// Snippets an attacker would try, spliced into documents.
const HOSTILE: &[&str] = &[
    "<a href=\"javascript:alert(1)\">x</a>",
    "&lt;a href=&quot;javascript:alert(1)&quot;&gt;x&lt;/a&gt;",
    "&lt;img src=x onerror=alert(1)&gt;",
    "<img src=x onerror=alert(1)>",
    " xml:base=\"javascript:alert(document.domain)//\" ",
    " xml:base=\"data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;\" ",
    "<link href=\"javascript:alert(2)\"/>",
    "<link rel=\"enclosure\" href=\"data:audio/mpeg;base64,AAAA\"/>",
    "<uri>javascript:alert(3)</uri>",
    "<author><name>x</name><uri>vbscript:msgbox</uri></author>",
    "&lt;svg onload=alert(1)&gt;&lt;/svg&gt;",
    "&lt;a href=&quot;  JaVaScRiPt:alert(1)&quot;&gt;y&lt;/a&gt;",
    "&lt;a href=&quot;java&amp;#09;script:alert(1)&quot;&gt;t&lt;/a&gt;",
    "&lt;iframe src=&quot;http://evil.example/&quot;&gt;&lt;/iframe&gt;",
    "&lt;form action=&quot;javascript:alert(1)&quot;&gt;&lt;button&gt;go&lt;/button&gt;&lt;/form&gt;",
    "&lt;div style=&quot;background:url(javascript:alert(1))&quot;&gt;s&lt;/div&gt;",
    "<![CDATA[<a href=\"javascript:alert(1)\">c</a>]]>",
    "&lt;base href=&quot;javascript:alert(1)//&quot;&gt;&lt;a href=&quot;x&quot;&gt;b&lt;/a&gt;",
    "<content type=\"xhtml\"><div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\"javascript:alert(1)\">x</a></div></content>",
    "\"url\": \"javascript:alert(1)\", ",
    "\"content_html\": \"<img src=x onerror=alert(1)>\", ",
    "\"attachments\": [{\"url\": \"data:text/html,x\", \"mime_type\": \"text/html\"}], ",
];

fn corpus_docs() -> Vec<PathBuf> {
    let dir = std::env::var_os("THAU_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    let mut docs = Vec::new();
    if dir.is_dir() {
        collect(&dir, &mut docs);
    } else {
        eprintln!("SKIPPED corpus mutations: no corpus at {} (THAU_CORPUS)", dir.display());
    }
    for fixture in ["courrier-thau.xml", "agde-ville.atom", "agenda-sete.json"] {
        docs.push(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/demo")
                .join(fixture),
        );
    }
    docs
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(read) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = read.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            collect(&p, out);
        } else if [".xml", ".rss", ".atom", ".rdf", ".json"]
            .iter()
            .any(|e| name.ends_with(e))
            && !name.ends_with("_expected.json")
            && !name.ends_with(".serde.json")
        {
            out.push(p);
        }
    }
}

/// A pseudo-random byte stream for `Unstructured` (xorshift64*).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

fn mutate(doc: &[u8], u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<u8>> {
    let mut doc = doc.to_vec();
    for _ in 0..u.int_in_range(1..=4)? {
        let at = if doc.is_empty() {
            0
        } else {
            u.int_in_range(0..=doc.len() - 1)?
        };
        match u.int_in_range(0..=5)? {
            0 if !doc.is_empty() => doc[at] ^= 1 << u.int_in_range(0..=7)?,
            1 | 2 => {
                let snippet = u.choose(HOSTILE)?;
                doc.splice(at..at, snippet.bytes());
            }
            3 => doc.truncate(at),
            4 if !doc.is_empty() => {
                let end = (at + u.int_in_range(1..=200)?).min(doc.len());
                let part = doc[at..end].to_vec();
                doc.splice(at..at, part);
            }
            _ => {
                // Hostile text inside the first description/content/summary.
                let snippet = u.choose(HOSTILE)?;
                for tag in [&b"<description>"[..], b"<content", b"<summary", b"\"content_html\": \""] {
                    if let Some(p) = doc.windows(tag.len()).position(|w| w == tag) {
                        let p = p + tag.len();
                        let p = doc[p..]
                            .iter()
                            .position(|&b| b == b'>' || tag.ends_with(b"\""))
                            .map_or(p, |q| p + q + 1);
                        doc.splice(p.min(doc.len())..p.min(doc.len()), snippet.bytes());
                        break;
                    }
                }
            }
        }
    }
    Ok(doc)
}

/// Random tag soup inside an RSS item.
fn soup(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<u8>> {
    const TAGS: &[&str] = &[
        "a", "img", "div", "p", "table", "tr", "td", "svg", "math", "script", "style", "iframe", "b", "form", "base",
        "object",
    ];
    const ATTRS: &[&str] = &[
        "href",
        "src",
        "onclick",
        "onerror",
        "style",
        "xlink:href",
        "formaction",
        "data",
        "srcset",
        "poster",
    ];
    const VALUES: &[&str] = &[
        "javascript:alert(1)",
        "x.png",
        "//evil.example/x",
        "data:text/html,x",
        "http://ok.example/",
        " javascript:alert(1)",
        "jav&#x09;ascript:alert(1)",
        "alert(1)",
        "#frag",
        "mailto:a@b.example",
        "vbscript:x",
        "ftp://files.example/a",
        "magnet:?xt=urn:x",
        "tel:+33467000000",
    ];
    let mut html = String::new();
    for _ in 0..u.int_in_range(1..=60)? {
        match u.int_in_range(0..=3)? {
            0 | 1 => {
                let tag = u.choose(TAGS)?;
                html.push('<');
                html.push_str(tag);
                for _ in 0..u.int_in_range(0..=3)? {
                    html.push_str(&format!(" {}=\"{}\"", u.choose(ATTRS)?, u.choose(VALUES)?));
                }
                html.push('>');
            }
            2 => html.push_str(&format!("</{}>", u.choose(TAGS)?)),
            _ => html.push_str("texte & <b>gras"),
        }
    }
    let escaped = html.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    Ok(format!(
        "<rss version=\"2.0\"><channel><title>soup</title><item><guid>s</guid><title>Soupe</title><description>{escaped}</description></item></channel></rss>"
    )
    .into_bytes())
}

/// What a published entry must never carry.
fn check(entry: &Entry, what: &str) {
    let web = |url: &str| {
        let lower = url.trim().to_ascii_lowercase();
        lower.starts_with("http://") || lower.starts_with("https://")
    };
    if let Some(link) = &entry.link {
        assert!(web(link), "{what}: link {link}");
    }
    for enc in &entry.enclosures {
        assert!(web(&enc.url), "{what}: enclosure {}", enc.url);
    }
    for a in &entry.authors {
        if let Some(uri) = &a.uri {
            assert!(web(uri) || uri.starts_with("mailto:"), "{what}: author uri {uri}");
        }
    }
    for html in [&entry.summary, &entry.content].into_iter().flatten() {
        check_html(html, what);
    }
}

fn check_html(html: &str, what: &str) {
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let tag_end = rest[start..].find('>').map_or(rest.len(), |e| start + e + 1);
        let tag = rest[start..tag_end].to_ascii_lowercase();
        rest = &rest[tag_end..];
        for (name, value) in attributes(&tag) {
            assert!(!name.starts_with("on"), "{what}: event handler in {tag}");
            if [
                "href",
                "src",
                "action",
                "formaction",
                "xlink:href",
                "poster",
                "data",
                "cite",
            ]
            .contains(&name.as_str())
            {
                // As a browser reads it (html5ever wrote it escaped).
                let v = value.trim().replace("&amp;", "&");
                let scheme = url::Url::parse(&v).map(|u| u.scheme().to_string());
                assert!(
                    scheme
                        .as_deref()
                        .is_ok_and(|s| ["http", "https", "mailto", "tel"].contains(&s)),
                    "{what}: {name}=\"{v}\" in {tag}"
                );
            }
            // (A URL may hold "javascript:" in its path: its scheme is what runs.)
            assert_ne!(name, "style", "{what}: {tag}");
        }
    }
}

/// `name="value"` pairs of a serialized tag (html5ever quotes every value).
fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = tag.trim_start_matches('<').trim_end_matches('>');
    rest = rest.split_once(char::is_whitespace).map_or("", |(_, r)| r);
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq]
            .trim()
            .rsplit(char::is_whitespace)
            .next()
            .unwrap_or("")
            .to_string();
        let after = &rest[eq + 2..];
        let end = after.find('"').unwrap_or(after.len());
        out.push((name, after[..end].to_string()));
        rest = &after[(end + 1).min(after.len())..];
    }
    out
}

/// Ingests and publishes `doc`; how many entries it gave.
fn ingest_and_publish(doc: &[u8], what: &str) -> usize {
    let url = url::Url::parse("https://fuzz.example/feeds/feed.xml").unwrap();
    let cx = DocContext {
        source: "fuzz",
        url: Some(&url),
        content_type: None,
        timezone: None,
        max_entries: Some(200),
        id_from: Default::default(),
    };
    let started = Instant::now();
    let Ok(mut feed) = normalize::parse(doc, &cx) else {
        return 0;
    };
    let raw = std::mem::take(&mut feed.entries);
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
    let entries: Vec<Arc<Entry>> = raw.into_iter().map(|r| Arc::new(r.finish(&feed, now))).collect();
    for e in &entries {
        check(e, what);
    }
    let config =
        thau::config::Config::parse("[[sections]]\nslug = \"f\"\ntitle = \"F\"\n", Path::new("feeds.toml")).unwrap();
    let section = SectionFeed {
        section: &config.sections[0],
        base_url: "https://thau.example",
        entries: &entries,
        kind: thau::publish::FeedKind::Section,
        archives: 0,
        hub: None,
    };
    // The reading pages of the same entries: nothing active gets through.
    let pages = thau::publish::Pages {
        site: &config.site,
        base_url: "https://thau.example",
        sections: &config.sections,
        now: Some(chrono::Utc::now()),
    };
    let listing = thau::publish::Listing {
        section: &config.sections[0],
        entries: &entries,
    };
    let mut html = pages.front(&[listing]);
    html.extend(pages.section(&listing));
    for e in &entries {
        html.extend(pages.story(e, &[&config.sections[0]]));
    }
    let html = String::from_utf8(html).expect("pages are UTF-8").to_ascii_lowercase();
    // Inside tags (text has no raw `<`): no script, frame, handler or
    // javascript: URL.
    for tag in html.split('<').skip(1).map(|t| t.split('>').next().unwrap_or(t)) {
        let name = tag.split([' ', '/', '\n']).next().unwrap_or("");
        assert!(
            !matches!(name, "script" | "iframe" | "object" | "embed"),
            "{what}: <{tag}> in a page"
        );
        let handler = tag
            .split([' ', '\n'])
            .skip(1)
            .any(|attr| attr.starts_with("on") && attr.contains('='));
        assert!(!handler, "{what}: an event handler in <{tag}>");
        assert!(!tag.contains("=\"javascript:"), "{what}: a javascript: URL in <{tag}>");
    }
    for format in Format::ALL {
        let bytes = format.render(&section);
        if format != Format::Json {
            let mut reader = quick_xml::Reader::from_reader(&bytes[..]);
            loop {
                match reader.read_event() {
                    Ok(quick_xml::events::Event::Eof) => break,
                    Ok(_) => {}
                    Err(e) => panic!("{what}: {format:?} output is not XML: {e}"),
                }
            }
        } else {
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_else(|e| panic!("{what}: JSON Feed: {e}"));
        }
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "{what}: took {took:?}");
    entries.len()
}

#[test]
fn mutated_documents_and_tag_soup_publish_nothing_hostile() {
    let seed: u64 = std::env::var("THAU_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261128);
    let cases: usize = std::env::var("THAU_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    // Documents that give entries as they are (one in four of the corpus,
    // to keep the run short): a mutation then tests what thau publishes.
    let docs: Vec<(PathBuf, Vec<u8>)> = corpus_docs()
        .into_iter()
        .enumerate()
        .filter(|(i, p)| i % 4 == 0 || p.starts_with(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")))
        .map(|(_, p)| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .filter(|(p, bytes)| ingest_and_publish(bytes, &p.display().to_string()) > 0)
        .collect();
    let bytes = noise(seed, cases * 64 + 4096);
    let mut u = Unstructured::new(&bytes);
    let (mut parsed, mut entries) = (0, 0);
    for case in 0..cases {
        let (what, doc) = if case % 4 == 3 {
            (format!("case {case}: tag soup"), soup(&mut u).unwrap_or_default())
        } else {
            let (path, original) = &docs[u.choose_index(docs.len()).unwrap_or(case % docs.len())];
            let what = format!("case {case}: {} mutated", path.display());
            (what, mutate(original, &mut u).unwrap_or_else(|_| original.clone()))
        };
        let n = ingest_and_publish(&doc, &what);
        parsed += usize::from(n > 0);
        entries += n;
    }
    eprintln!("{cases} cases: {parsed} documents gave {entries} entries");
    // The property is only worth something if most inputs got through.
    assert!(parsed * 3 > cases, "only {parsed} of {cases} documents gave entries");
    assert!(docs.len() > 3 || !Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus").is_dir());
}

/// The checks above must catch what they look for.
#[test]
fn the_checks_catch_hostile_output() {
    for bad in [
        r#"<a href="javascript:alert(1)">x</a>"#,
        r#"<img src="data:image/png;base64,AAAA">"#,
        r#"<p onclick="x()">y</p>"#,
    ] {
        assert!(std::panic::catch_unwind(|| check_html(bad, "probe")).is_err(), "{bad}");
    }
    check_html(
        r#"<a href="https://ok.example/" rel="noopener noreferrer">ok</a><img src="http://ok.example/i.png">"#,
        "probe",
    );
}
