//! The scale benchmark's baseline (`bench/scale.sh`): a bare reqwest client
//! that fetches every URL of a file, `--in-flight` at a time, and parses
//! each body with feed-rs with its `sanitize` feature on: thau's work
//! minus ids, links, dates and the store. With `--conditional` it first
//! fetches everything once (not timed), then times a second round that
//! sends the validators back (all 304s from a static origin).
//!
//! usage: bare_client URLS_FILE [--in-flight N] [--conditional]
//! prints: `{"seconds": …, "fetched": …, "not_modified": …, "entries": …}`

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::header;

#[derive(Default, Clone)]
struct Validators {
    etag: Option<String>,
    last_modified: Option<String>,
}

#[derive(Default)]
struct Tally {
    fetched: usize,
    not_modified: usize,
    entries: usize,
    errors: usize,
}

async fn round(client: &reqwest::Client, urls: &[String], validators: &mut [Validators], in_flight: usize) -> Tally {
    let sent: Vec<Validators> = validators.to_vec();
    let requests = urls.iter().zip(sent).enumerate().map(|(i, (url, v))| {
        let client = client.clone();
        async move {
            let mut request = client.get(url);
            if let Some(etag) = &v.etag {
                request = request.header(header::IF_NONE_MATCH, etag);
            }
            if let Some(lm) = &v.last_modified {
                request = request.header(header::IF_MODIFIED_SINCE, lm);
            }
            let Ok(response) = request.send().await else {
                return (i, None, 0, false);
            };
            let header = |name| {
                response
                    .headers()
                    .get(name)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_owned)
            };
            let v = Validators {
                etag: header(header::ETAG),
                last_modified: header(header::LAST_MODIFIED),
            };
            if response.status() == reqwest::StatusCode::NOT_MODIFIED {
                return (i, Some(v), 0, true);
            }
            let Ok(body) = response.bytes().await else {
                return (i, None, 0, false);
            };
            let entries = tokio::task::spawn_blocking(move || {
                feed_rs::parser::Builder::new()
                    .sanitize_content(true)
                    .build()
                    .parse(&body[..])
                    .map_or(0, |f| f.entries.len())
            })
            .await
            .unwrap_or(0);
            (i, Some(v), entries, false)
        }
    });
    let mut tally = Tally::default();
    let mut results = futures_util::stream::iter(requests).buffer_unordered(in_flight);
    while let Some((i, v, entries, not_modified)) = results.next().await {
        match v {
            Some(v) => {
                validators[i] = v;
                if not_modified {
                    tally.not_modified += 1;
                } else {
                    tally.fetched += 1;
                }
                tally.entries += entries;
            }
            None => tally.errors += 1,
        }
    }
    tally
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let file = args
        .first()
        .expect("usage: bare_client URLS_FILE [--in-flight N] [--conditional]");
    let in_flight = args
        .iter()
        .position(|a| a == "--in-flight")
        .and_then(|i| args.get(i + 1))
        .map_or(64, |n| n.parse().expect("a number"));
    let conditional = args.iter().any(|a| a == "--conditional");
    let urls: Vec<String> = std::fs::read_to_string(file)
        .expect("read the URL list")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    // The same TLS provider thau installs (reqwest is built without one).
    thau::outbound::tls_provider();
    let client = reqwest::Client::builder()
        .user_agent("bare-client")
        .timeout(Duration::from_secs(20))
        .gzip(true)
        .brotli(true)
        .build()
        .expect("client");
    let mut validators = vec![Validators::default(); urls.len()];
    if conditional {
        round(&client, &urls, &mut validators, in_flight).await;
    }
    let started = Instant::now();
    let tally = round(&client, &urls, &mut validators, in_flight).await;
    println!(
        "{{\"seconds\": {:.4}, \"fetched\": {}, \"not_modified\": {}, \"entries\": {}, \"errors\": {}}}",
        started.elapsed().as_secs_f64(),
        tally.fetched,
        tally.not_modified,
        tally.entries,
        tally.errors
    );
}
