//! Ingest throughput against feed-rs alone with its `sanitize` feature, on
//! the same bytes, one core, measured in the same run (see BENCHMARKS.md).
//!
//! `cargo bench --bench ingest` — prints MB/s for each and the ratio.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The system allocator, counting calls (allocations and reallocations):
/// how many each path makes per entry is printed beside its speed.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Allocations per entry (of the 40) that `f` makes.
fn allocations_per_entry(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    f();
    (ALLOCATIONS.load(Ordering::Relaxed) - before) / 40
}

use chrono::Utc;
use thau::fetch::{Document, Validators};
use thau::store::Store;

/// A ~100 KB RSS 2.0 feed like a regional paper's: 40 items with HTML
/// content, relative links and images, categories, entities. Each `edition`
/// has its own stories (distinct links and guids); `shift` slides the window
/// of 40 stories, as a paper's feed does when it publishes new ones.
fn sample_feed(edition: usize, shift: usize) -> Vec<u8> {
    let mut s = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>Le Courrier du Bassin de Thau</title><link>https://courrier-thau.example/</link><description>Actualité</description><language>fr</language>
"#,
    );
    for i in shift..shift + 40 {
        s.push_str(&format!(
            r#"<item><title>Sète : article n°{i} sur l&apos;étang de Thau</title>
<link>https://courrier-thau.example/sete/{edition}/article-{i}.html?utm_source=rss</link>
<guid isPermaLink="false">courrier-{edition}-{i}</guid>
<pubDate>Tue, 24 Nov 2026 {h:02}:{m:02}:00 +0100</pubDate>
<dc:creator>Camille Roux</dc:creator><category>Sète</category><category>Société</category>
<description>Résumé de l'article {i} : les conchyliculteurs de Mèze et de Bouzigues s'inquiètent.</description>
<content:encoded><![CDATA[{body}]]></content:encoded>
</item>
"#,
            h = i % 24,
            m = i % 60,
            body = article(i)
        ));
    }
    s.push_str("</channel></rss>\n");
    s.into_bytes()
}

fn article(i: usize) -> String {
    let mut b = String::new();
    for p in 0..6 {
        b.push_str(&format!(
            r#"<p class="chapo" style="color:red">Paragraphe {p} de l'article {i}, avec <a href="/sete/lien-{p}.html" onclick="track()">un lien relatif</a>, <em>de l'emphase</em> &amp; des entités &eacute;, puis une image <img src="/img/{i}-{p}.jpg" alt="photo {p}"> et du texte pour faire une longueur réaliste de contenu de presse régionale.</p>"#
        ));
    }
    b.push_str("<script>tracker()</script><iframe src=\"https://ads.example/\"></iframe>");
    b
}

/// feed-rs alone, its sanitizing on (the baseline) or off.
fn feed_rs(bytes: &[u8], sanitize: bool) -> feed_rs::model::Feed {
    feed_rs::parser::Builder::new()
        .sanitize_content(sanitize)
        .build()
        .parse(bytes)
        .expect("sample parses")
}

fn feed_rs_sanitize(bytes: &[u8]) -> usize {
    feed_rs(bytes, true).entries.len()
}

/// thau's parse + normalize + sanitize, without the store.
fn thau_normalize(bytes: &[u8]) -> usize {
    let url = "https://courrier-thau.example/rss.xml".parse().unwrap();
    let cx = thau::normalize::DocContext {
        source: "bench",
        url: Some(&url),
        content_type: Some("application/rss+xml"),
        timezone: None,
        max_entries: None,
        id_from: Default::default(),
    };
    let mut feed = thau::normalize::parse(bytes, &cx).unwrap();
    let raw = std::mem::take(&mut feed.entries);
    let mut n = 0;
    for r in raw {
        std::hint::black_box(r.finish(&feed, Utc::now()));
        n += 1;
    }
    n
}

/// The least any ingest that sanitizes must do: feed-rs's parse, then one
/// ammonia pass (thau's) over each entry's HTML — no ids, links, dates or
/// store. The baseline does this too, plus ammonia on the short fields.
fn parse_and_sanitize_only(bytes: &[u8]) -> usize {
    let feed = feed_rs(bytes, false);
    for e in &feed.entries {
        if let Some(body) = e.content.as_ref().and_then(|c| c.body.as_deref()) {
            std::hint::black_box(thau::normalize::sanitize_html(body, None));
        }
    }
    feed.entries.len()
}

fn feed_rs_plain(bytes: &[u8]) -> usize {
    feed_rs(bytes, false).entries.len()
}

fn thau_ingest(store: &Store, source: &str, bytes: &[u8]) -> u32 {
    let doc = Document {
        body: bytes.to_vec(),
        content_type: Some("application/rss+xml".into()),
        url: Some("https://courrier-thau.example/rss.xml".parse().unwrap()),
        validators: Validators::default(),
    };
    // What a poll starts from: the state the last poll of this source left.
    let state = store.fetch_state(source).unwrap().unwrap_or_default();
    let options = thau::pipeline::IngestOptions {
        timezone: None,
        max_entries: thau::config::DEFAULT_MAX_ENTRIES_PER_POLL,
        title: None,
        filter: Default::default(),
        id_from: Default::default(),
        full_text: false,
        max_text: thau::normalize::DEFAULT_MAX_TEXT,
        rewrites: Default::default(),
    };
    let report = thau::pipeline::ingest(store, source, &options, doc, state, Utc::now());
    assert!(report.error.is_none(), "{:?}", report.error);
    report.counts.new + report.counts.updated + report.counts.unchanged
}

/// Median throughput in MB/s of `rounds` timed runs of `f` over `bytes`.
fn median_mb_s(times: &mut [Duration], bytes: usize) -> f64 {
    times.sort();
    bytes as f64 / times[times.len() / 2].as_secs_f64() / 1e6
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bench.sled")).unwrap();
    let rounds = std::env::var("THAU_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);

    // Warm up both, then interleave so machine noise hits both alike.
    let warmup = sample_feed(usize::MAX, 0);
    feed_rs_sanitize(&warmup);
    thau_ingest(&store, "warmup", &warmup);
    // Allocations, once each, on a feed of its own.
    let counted = sample_feed(usize::MAX - 1, 0);
    let allocations = [
        allocations_per_entry(|| {
            feed_rs_sanitize(&counted);
        }),
        allocations_per_entry(|| {
            thau_ingest(&store, "counted", &counted);
        }),
        allocations_per_entry(|| {
            thau_ingest(&store, "counted", &sample_feed(usize::MAX - 1, 2));
        }),
        allocations_per_entry(|| {
            parse_and_sanitize_only(&counted);
        }),
        allocations_per_entry(|| {
            thau_normalize(&counted);
        }),
    ];
    let (mut base, mut first, mut again) = (Vec::new(), Vec::new(), Vec::new());
    let mut next = Vec::new();
    let (mut plain, mut normalized, mut flushed) = (Vec::new(), Vec::new(), Vec::new());
    let mut floor = Vec::new();
    for round in 0..rounds {
        let bytes = sample_feed(round, 0);
        let t = Instant::now();
        feed_rs_plain(&bytes);
        plain.push(t.elapsed());
        let t = Instant::now();
        thau_normalize(&bytes);
        normalized.push(t.elapsed());
        let t = Instant::now();
        parse_and_sanitize_only(&bytes);
        floor.push(t.elapsed());
        let t = Instant::now();
        assert_eq!(feed_rs_sanitize(&bytes), 40);
        base.push(t.elapsed());

        // A new source each round: every entry is new (parse, normalize,
        // sanitize, one batch write), then the flush a poll waits for.
        let source = format!("s{round}");
        let t = Instant::now();
        assert_eq!(thau_ingest(&store, &source, &bytes), 40);
        first.push(t.elapsed());
        store.flush().unwrap();
        flushed.push(t.elapsed());

        // The same source again, as when an origin ignores conditional GET:
        // unchanged entries are recognised before sanitizing.
        let t = Instant::now();
        thau_ingest(&store, &source, &bytes);
        again.push(t.elapsed());

        // The next poll of a news feed: two new stories on top, the 38
        // others as before (a 200: the origin ignores conditional GET).
        let bytes = sample_feed(round, 2);
        let t = Instant::now();
        thau_ingest(&store, &source, &bytes);
        next.push(t.elapsed());
    }
    let n = warmup.len();
    let base = median_mb_s(&mut base, n);
    let first = median_mb_s(&mut first, n);
    let again = median_mb_s(&mut again, n);
    let next = median_mb_s(&mut next, n);
    let plain = median_mb_s(&mut plain, n);
    let flushed = median_mb_s(&mut flushed, n);
    let normalized = median_mb_s(&mut normalized, n);
    let floor = median_mb_s(&mut floor, n);
    println!(
        "ingest benchmark: {} KB RSS feed, 40 items, {rounds} interleaved rounds, median",
        n / 1000
    );
    println!("  (last column: allocations per entry, counted on one run)");
    row("feed-rs parse + sanitize (baseline)", base, base, Some(allocations[0]));
    row("thau ingest, all entries new", first, base, Some(allocations[1]));
    row("  ... and waiting for the sled flush", flushed, base, None);
    row("thau ingest, unchanged re-fetch (200)", again, base, None);
    row(
        "thau ingest, next poll: 2 new of 40 (200)",
        next,
        base,
        Some(allocations[2]),
    );
    println!("where the time goes:");
    row("feed-rs parse alone", plain, base, None);
    row(
        "feed-rs parse + ammonia on the HTML only",
        floor,
        base,
        Some(allocations[3]),
    );
    row(
        "thau parse + normalize + sanitize",
        normalized,
        base,
        Some(allocations[4]),
    );
}

fn row(label: &str, mb_s: f64, base: f64, allocations: Option<u64>) {
    let allocations = allocations.map(|a| a.to_string()).unwrap_or_default();
    println!("  {label:<40} {mb_s:8.1} MB/s  {:.2}x  {allocations:>8}", mb_s / base);
}
