//! Walks the shared corpus of ~5,000 public feed test documents through
//! parse + normalize + sanitize: every document yields entries or a clear
//! error, with no panic, no hang, and bounded memory; and no sanitized HTML
//! keeps a script, an event handler or a `javascript:` URL. feedparser's
//! date vectors come out as feedparser reads them, or undated; never wrong.
//!
//! The corpus lives outside the repository (`../shared/corpus`, or
//! `THAU_CORPUS`); the test says so and passes when it is absent. Set
//! `THAU_CORPUS_VERBOSE=1` to list every refused document and why.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use chrono::{Timelike, Utc};
use thau::normalize::{self, DocContext};
use url::Url;

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("THAU_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if !dir.is_dir() {
        eprintln!(
            "SKIPPED: no feed corpus at {} (set THAU_CORPUS to its path)",
            dir.display()
        );
        return None;
    }
    Some(dir)
}

fn documents(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(read) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = read.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if p.is_dir() {
            documents(&p, out);
        } else if !(name.starts_with("LICENSE")
            || name.ends_with(".md")
            || name.ends_with(".jsonl")
            || name.ends_with(".serde.json")
            || name.ends_with("_expected.json"))
        {
            out.push(p);
        }
    }
}

/// feedparser's tests say which `Content-Type` they are served with.
fn declared_content_type(bytes: &[u8]) -> Option<String> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_string();
    let at = head.find("Header: Content-type:")?;
    let rest = &head[at + "Header: Content-type:".len()..];
    Some(rest.lines().next()?.trim().to_string())
}

#[derive(Default, Debug)]
struct Tally {
    with_entries: usize,
    without_entries: usize,
    errors: usize,
    entries: usize,
    /// Entries with no date thau could read (dated when first seen).
    undated: usize,
    /// Atom 0.3 documents with an `<entry>` that gave no entry.
    atom_03_lost: Vec<String>,
    unsafe_html: Vec<String>,
}

fn ingest(path: &Path, tally: &mut Tally) {
    let bytes = std::fs::read(path).unwrap();
    let content_type = declared_content_type(&bytes);
    let url = Url::parse("http://corpus.example/feed.xml").unwrap();
    let cx = DocContext {
        source: "corpus",
        url: Some(&url),
        content_type: content_type.as_deref(),
        timezone: None,
        max_entries: None,
        id_from: Default::default(),
    };
    match normalize::parse(&bytes, &cx) {
        Ok(mut feed) => {
            let raw = std::mem::take(&mut feed.entries);
            let atom_03 = |b: &[u8]| {
                let has = |needle: &[u8]| b.windows(needle.len()).any(|w| w == needle);
                has(b"purl.org/atom/ns#") && has(b"<entry")
            };
            if raw.is_empty() && atom_03(&bytes) {
                tally.atom_03_lost.push(path.display().to_string());
            }
            if raw.is_empty() {
                tally.without_entries += 1;
            } else {
                tally.with_entries += 1;
            }
            for r in raw {
                let e = r.finish(&feed, Utc::now());
                assert!(!e.id.is_empty(), "{}: empty id", path.display());
                tally.entries += 1;
                tally.undated += usize::from(!e.dated);
                for html in [e.summary.as_deref(), e.content.as_deref()].into_iter().flatten() {
                    let lower = html.to_ascii_lowercase();
                    let bad = [
                        "<script",
                        "javascript:",
                        "<iframe",
                        "<style",
                        " onerror=",
                        " onclick=",
                        " onload=",
                        " onmouseover=",
                    ];
                    if bad.iter().any(|b| lower.contains(b)) {
                        tally.unsafe_html.push(format!("{}: {html}", path.display()));
                    }
                }
            }
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            if std::env::var_os("THAU_CORPUS_VERBOSE").is_some() {
                eprintln!("refused {}: {e}", path.display());
            }
            tally.errors += 1;
        }
    }
}

#[test]
fn every_corpus_document_yields_entries_or_a_clear_error() {
    let Some(dir) = corpus_dir() else { return };
    let mut docs = Vec::new();
    documents(&dir, &mut docs);
    assert!(
        docs.len() > 1000,
        "only {} documents under {}",
        docs.len(),
        dir.display()
    );

    // One worker; the test thread watches it so a hang names its document.
    let (progress_tx, progress_rx) = mpsc::channel::<Option<PathBuf>>();
    let list = docs.clone();
    let worker = std::thread::spawn(move || {
        let mut tally = Tally::default();
        for path in list {
            progress_tx.send(Some(path.clone())).unwrap();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ingest(&path, &mut tally)));
            if result.is_err() {
                panic!("panicked on {}", path.display());
            }
        }
        progress_tx.send(None).unwrap();
        tally
    });
    let mut current = None;
    loop {
        match progress_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Some(path)) => current = Some(path),
            Ok(None) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("hung on {:?}", current),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let tally = worker
        .join()
        .unwrap_or_else(|_| panic!("worker panicked on {current:?}"));
    let peak = peak_rss_kib();
    eprintln!(
        "corpus: {} documents: {} with entries ({} entries, {} of them undated), {} valid but empty, {} refused with an error; peak RSS {} MiB",
        docs.len(),
        tally.with_entries,
        tally.entries,
        tally.undated,
        tally.without_entries,
        tally.errors,
        peak / 1024
    );
    assert!(
        tally.atom_03_lost.is_empty(),
        "Atom 0.3 documents read without entries:\n{}",
        tally.atom_03_lost.join("\n")
    );
    assert!(
        tally.unsafe_html.is_empty(),
        "unsafe HTML survived:\n{}",
        tally.unsafe_html.join("\n")
    );
    assert_eq!(tally.with_entries + tally.without_entries + tally.errors, docs.len());
    assert!(peak < 1024 * 1024, "peak RSS {peak} KiB");
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The first entry of a document, normalized as a poll would store it.
fn first_entry(doc: &[u8], url: Option<&Url>) -> Result<Option<thau::model::Entry>, normalize::NormalizeError> {
    let cx = DocContext {
        source: "corpus",
        url,
        content_type: None,
        timezone: None,
        max_entries: None,
        id_from: Default::default(),
    };
    let mut feed = normalize::parse(doc, &cx)?;
    let raw = std::mem::take(&mut feed.entries);
    Ok(raw.into_iter().next().map(|r| r.finish(&feed, Utc::now())))
}

/// Date strings thau does not read (the entry is then dated when first
/// seen): non-English, non-French month and AM/PM words, ISO 8601's
/// ordinal and two-digit-year forms, which no feed in the corpus uses; and
/// malformed strings feedparser as a whole guesses at (one of its parsers
/// takes `2013-xx-27` for a date) where a reader is better told nothing.
const UNREAD_DATES: [&str; 16] = [
    "22013",
    "2013-01-27-01",
    "2013-01-28T11:30:00-06:00Textra",
    "2013-xx-27",
    "2013-01-28T09:xx:00Z",
    "2013-01-28T09:00:00+00:xx",
    "Κυρ, 11 Ιούλ 2004 12:00:00 EST",
    "2004-július-13T9:15-05:00",
    "2004-05-25 오후 11:23:17",
    "2004년 05월 28일  01:31:15",
    "-0312",
    "031231",
    "03-12-31",
    "-03-12",
    "03335",
    "2003-012-31T10:14:55+00:00",
];

/// What feedparser as a whole (`feedparser.datetimes._parse_date`, every
/// date parser in turn) reads of each input: a vector says what one of its
/// parsers reads, and a date one parser refuses another may read (a 61st
/// second carries into the next minute). None without Python feedparser.
fn feedparser_reads(inputs: &[String]) -> Option<Vec<Option<chrono::DateTime<Utc>>>> {
    let script = "import json,sys,time\nfrom feedparser.datetimes import _parse_date\n\
        for line in sys.stdin:\n    r = _parse_date(json.loads(line))\n    \
        print(json.dumps(time.strftime('%Y-%m-%dT%H:%M:%SZ', r) if r else None))\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take()?;
        for input in inputs {
            writeln!(stdin, "{}", serde_json::to_string(input).unwrap()).ok()?;
        }
    }
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                serde_json::from_str::<Option<String>>(l)
                    .unwrap()
                    .and_then(|s| s.parse().ok())
            })
            .collect(),
    )
}

/// feedparser's date vectors (`feedparser/derived/date-vectors.jsonl`), each
/// as an RSS `pubDate` and as Atom `published`/`updated`: every date comes
/// out as feedparser reads it, or the entry is undated; never another date.
/// Where a vector says one of feedparser's parsers reads nothing, feedparser
/// as a whole is asked (when it is installed).
#[test]
fn feedparser_date_vectors_are_read_right_or_not_at_all() {
    let Some(dir) = corpus_dir() else { return };
    let vectors = std::fs::read_to_string(dir.join("feedparser/derived/date-vectors.jsonl")).unwrap();
    let url = Url::parse("http://corpus.example/feed.xml").unwrap();
    let (mut right, mut wrong, mut unread) = (0, Vec::new(), Vec::new());
    let vectors: Vec<serde_json::Value> = vectors.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let inputs: Vec<String> = vectors
        .iter()
        .map(|v| v["input"].as_str().unwrap().to_string())
        .collect();
    let overall = feedparser_reads(&inputs);
    if overall.is_none() {
        eprintln!("Python feedparser not found: vectors its parsers refuse are expected unread");
    }
    for (n, v) in vectors.iter().enumerate() {
        let input = v["input"].as_str().unwrap();
        let expected = v["expected_utc"]
            .as_str()
            .map(|s| s.parse::<chrono::DateTime<Utc>>().unwrap())
            .or_else(|| overall.as_ref().and_then(|o| o[n]));
        let text = input.replace('&', "&amp;").replace('<', "&lt;");
        for doc in [
            format!(
                r#"<rss version="2.0"><channel><title>t</title><item><guid>g</guid><title>a</title><pubDate>{text}</pubDate></item></channel></rss>"#
            ),
            format!(
                r#"<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:f</id><title>t</title><updated>2020-01-01T00:00:00Z</updated><entry><id>urn:e</id><title>a</title><published>{text}</published><updated>{text}</updated></entry></feed>"#
            ),
        ] {
            let entry = first_entry(doc.as_bytes(), Some(&url)).unwrap().expect("one entry");
            // feedparser's dates have whole seconds.
            let got = entry.dated.then(|| entry.published.with_nanosecond(0).unwrap());
            match (got, expected) {
                (got, want) if got == want => right += 1,
                (None, Some(_)) => unread.push(input.to_string()),
                (got, want) => wrong.push(format!("{input:?}: {got:?}, feedparser says {want:?}")),
            }
        }
    }
    unread.dedup();
    println!(
        "date vectors: {right} read as feedparser reads them, {} unread: {unread:?}",
        unread.len()
    );
    assert!(wrong.is_empty(), "wrong dates:\n{}", wrong.join("\n"));
    let unexpected: Vec<_> = unread.iter().filter(|u| !UNREAD_DATES.contains(&u.as_str())).collect();
    assert!(unexpected.is_empty(), "dates thau should read: {unexpected:?}");
}

/// Where thau reads an entry otherwise than gofeed, and why.
const GOFEED_DIFFERENCES: [(&str, &str); 5] = [
    (
        "feed_item_author_-_rss_channel_item_author_atom: authors",
        "feed-rs ignores atom:author inside an RSS item",
    ),
    (
        "feed_item_fallbacks_-_rss_channel_item_extensions: ",
        "feed-rs reads neither dc:title nor dc:author in an RSS 2.0 item",
    ),
    (
        "feed_item_links_-_rss_channel_item_links: link",
        "of three links, thau keeps the first, gofeed the last",
    ),
    (
        "feed_item_description_-_rdf_item_description: no entry",
        "feed-rs drops an RSS 1.0 item without a link (the spec requires one)",
    ),
    ("feed_item_title_-_rdf_item_title: no entry", "the same"),
];

/// gofeed's translator cases (`gofeed/testdata/translator/{rss,atom}`): for
/// each entry-level field gofeed's expected output names, thau's entry says
/// the same (links compared as URLs, dates as instants).
#[test]
fn gofeed_translator_expectations_for_entries() {
    let Some(dir) = corpus_dir() else { return };
    let mut cases = Vec::new();
    for format in ["rss", "atom"] {
        for file in std::fs::read_dir(dir.join("gofeed/testdata/translator").join(format)).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("feed_item_") && name.ends_with(".xml") {
                cases.push(path);
            }
        }
    }
    cases.sort();
    let (mut agreed, mut differ) = (0, Vec::new());
    for path in &cases {
        let expected: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path.with_extension("json")).unwrap()).unwrap();
        let Some(want) = expected["items"].get(0) else { continue };
        let bytes = std::fs::read(path).unwrap();
        let case = path.file_stem().unwrap().to_string_lossy();
        let first = first_entry(&bytes, None).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let Some(got) = first else {
            differ.push(format!("{case}: no entry"));
            continue;
        };
        let mut check = |field: &str, same: bool, detail: String| {
            if same {
                agreed += 1;
            } else {
                differ.push(format!("{case}: {field}: {detail}"));
            }
        };
        if let Some(title) = want["title"].as_str() {
            check("title", got.title == title, format!("{:?} vs {title:?}", got.title));
        }
        if let Some(link) = want["link"].as_str() {
            let same = got.link.as_deref().map(Url::parse).and_then(Result::ok) == Url::parse(link).ok();
            check("link", same, format!("{:?} vs {link:?}", got.link));
        }
        for (field, ours) in [("publishedParsed", got.published), ("updatedParsed", got.updated)] {
            if let Some(date) = want[field].as_str() {
                let same = got.dated && date.parse::<chrono::DateTime<Utc>>().ok() == Some(ours);
                check(field, same, format!("{ours} vs {date}"));
            }
        }
        if let Some(authors) = want["authors"].as_array() {
            let names: Vec<&str> = authors.iter().filter_map(|a| a["name"].as_str()).collect();
            let ours: Vec<&str> = got.authors.iter().map(|a| a.name.as_str()).collect();
            if !names.is_empty() {
                check("authors", ours == names, format!("{ours:?} vs {names:?}"));
            }
        }
        if let Some(categories) = want["categories"].as_array() {
            let theirs: Vec<&str> = categories.iter().filter_map(|c| c.as_str()).collect();
            check(
                "categories",
                got.categories == theirs,
                format!("{:?} vs {theirs:?}", got.categories),
            );
        }
        if let Some(enclosures) = want["enclosures"].as_array() {
            let theirs: Vec<&str> = enclosures.iter().filter_map(|e| e["url"].as_str()).collect();
            let ours: Vec<&str> = got.enclosures.iter().map(|e| e.url.as_str()).collect();
            check("enclosures", ours == theirs, format!("{ours:?} vs {theirs:?}"));
        }
        if let Some(guid) = want["guid"].as_str() {
            check("guid", got.id == guid, format!("{:?} vs {guid:?}", got.id));
        }
    }
    println!(
        "gofeed translator cases: {} files, {agreed} fields agree, {} differ as known",
        cases.len(),
        differ.len()
    );
    let unexpected: Vec<_> = differ
        .iter()
        .filter(|d| !GOFEED_DIFFERENCES.iter().any(|(case, _)| d.starts_with(case)))
        .collect();
    assert!(unexpected.is_empty(), "differ from gofeed:\n{unexpected:#?}");
}
