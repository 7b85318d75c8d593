//! Precision and recall of near-duplicate detection (`[dedupe]
//! similarity`) on a labelled set, and its cost per story.
//!
//! The stories are the real text of feeds in the shared corpus (news, blog
//! and podcast feeds) and the demo's. The labels:
//! - **duplicates**: each story against a wire copy of it as a paper runs
//!   one: another title on the same subject, its last sentence cut, a
//!   credit and a "read also" line added;
//! - **not duplicates**: every pair of two different stories (the stories
//!   of one feed, alike in style and boilerplate, are the hard ones).
//!
//! A pair is called a duplicate when thau would merge it: the two share a
//! band bucket and their similarity reaches the threshold.
//!
//! usage: cargo run --release --example near_labels [CORPUS] [SIMILARITY…]
use std::path::{Path, PathBuf};
use std::time::Instant;

use thau::model::Entry;
use thau::near::{bands, signature, similarity};

/// The set the parameters (2-word shingles, containment, 16 bands of 2
/// rows) and the suggested similarity were chosen on.
const TUNING: &[&str] = &[
    "node-feedparser/test/feeds/wapowellness.xml",
    "feed-rs/feed-rs/fixture/rss2/rss_2.0_cloudflare.xml",
    "feed-rs/feed-rs/fixture/atom/atom_mediarss_reddit_1.xml",
    "feedparser/tests/wellformed/sanitize/large_atom_feed_that_needs_css_sanitisation.xml",
];

/// Feeds never looked at while choosing: the figures that count.
const HELD_OUT: &[&str] = &[
    "feed-rs/feed-rs/fixture/rss2/rss_2.0_nightvale.xml",
    "feed-rs/feed-rs/fixture/rss2/rss_2.0_wirecutter.xml",
    "node-feedparser/test/feeds/tpm.atom",
    "node-feedparser/test/feeds/intertwingly.atom",
    "node-feedparser/test/feeds/iconv.xml",
    "node-feedparser/test/feeds/illegally-nested.xml",
];

fn stories(path: &Path, name: &str) -> Vec<Entry> {
    let Ok(bytes) = std::fs::read(path) else {
        eprintln!("(skipped {}: not found)", path.display());
        return Vec::new();
    };
    let cx = thau::normalize::DocContext {
        source: name,
        url: None,
        content_type: None,
        timezone: None,
        max_entries: None,
        id_from: Default::default(),
    };
    match thau::normalize::parse(&bytes, &cx) {
        Ok(mut feed) => {
            let now = chrono::Utc::now();
            let raw = std::mem::take(&mut feed.entries);
            raw.into_iter().map(|r| r.finish(&feed, now)).collect()
        }
        Err(e) => {
            eprintln!("(skipped {}: {e})", path.display());
            Vec::new()
        }
    }
}

/// A paper's run of a wire story.
fn wire_copy(e: &Entry) -> Entry {
    let text = thau::normalize::html_to_text(e.content.as_deref().or(e.summary.as_deref()).unwrap_or(""));
    let mut sentences: Vec<&str> = text.split_inclusive(". ").collect();
    if sentences.len() > 2 {
        sentences.pop();
    }
    let mut copy = e.clone();
    let words: Vec<&str> = e.title.split_whitespace().collect();
    copy.title = format!(
        "Thau : {}",
        words.iter().rev().take(6).rev().copied().collect::<Vec<_>>().join(" ")
    );
    copy.content = Some(format!(
        "<p>{}</p><p>(Avec agence.) Lire aussi : notre dossier de la semaine.</p>",
        thau::normalize::escape_html(&sentences.concat())
    ));
    copy.summary = None;
    copy
}

fn main() {
    let mut args = std::env::args().skip(1);
    let corpus = PathBuf::from(args.next().unwrap_or_else(|| "../shared/corpus".into()));
    let thresholds: Vec<f64> = args.filter_map(|a| a.parse().ok()).collect();
    let thresholds = if thresholds.is_empty() {
        vec![0.5, 0.6, 0.7, 0.8]
    } else {
        thresholds
    };
    let tuning: Vec<Entry> = TUNING
        .iter()
        .enumerate()
        .flat_map(|(i, f)| stories(&corpus.join(f), &format!("tuning{i}")))
        .chain(
            ["courrier-thau.xml", "agde-ville.atom", "agenda-sete.json"]
                .iter()
                .flat_map(|f| stories(&Path::new("fixtures/demo").join(f), f)),
        )
        .collect();
    let held_out: Vec<Entry> = HELD_OUT
        .iter()
        .enumerate()
        .flat_map(|(i, f)| stories(&corpus.join(f), &format!("held{i}")))
        .collect();
    for (name, set) in [("tuning set", tuning), ("held-out set", held_out)] {
        println!("{name}:");
        measure(set, &thresholds);
    }
}

fn measure(all: Vec<Entry>, thresholds: &[f64]) {
    let started = Instant::now();
    let signed: Vec<(Entry, thau::near::Signature)> =
        all.into_iter().filter_map(|e| signature(&e).map(|s| (e, s))).collect();
    let per_signature = started.elapsed().as_secs_f64() / signed.len().max(1) as f64;
    let copies: Vec<thau::near::Signature> = signed.iter().filter_map(|(e, _)| signature(&wire_copy(e))).collect();
    assert_eq!(copies.len(), signed.len(), "every copy is long enough to judge");
    let merged = |a: &thau::near::Signature, b: &thau::near::Signature, t: f64| {
        bands(a).iter().zip(bands(b)).any(|(x, y)| *x == y) && similarity(a, b) >= t
    };
    println!(
        "{} stories long enough to judge; {} duplicate pairs, {} pairs of different stories; signature {:.1} µs per story",
        signed.len(),
        signed.len(),
        signed.len() * (signed.len() - 1) / 2,
        per_signature * 1e6
    );
    for &t in thresholds {
        let found = signed.iter().zip(&copies).filter(|((_, s), c)| merged(s, c, t)).count();
        let mut false_merges = 0;
        for i in 0..signed.len() {
            for j in i + 1..signed.len() {
                if merged(&signed[i].1, &signed[j].1, t) {
                    false_merges += 1;
                }
            }
        }
        let precision = found as f64 / (found + false_merges).max(1) as f64;
        let recall = found as f64 / signed.len().max(1) as f64;
        println!(
            "similarity {t}: precision {precision:.3} ({false_merges} false merges), recall {recall:.3} ({} missed)",
            signed.len() - found
        );
    }
}
