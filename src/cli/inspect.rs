//! `thau check`, `sources` and `test-source`: what feeds.toml says, what
//! the store knows of it, what a source's document reads as; nothing written.

use std::path::Path;
use std::process::ExitCode;

use super::{SOME_FAILED, UNUSABLE, runtime};
use crate::config::Config;
use crate::store::{Store, StoreError};

/// `thau check`: the configuration loaded (its problems were reported by
/// loading it), and what the store says the admin should act on.
pub fn check(config: &Config, path: &Path) -> ExitCode {
    println!(
        "{}: ok ({} sources, {} sections)",
        path.display(),
        config.sources.len(),
        config.sections.len()
    );
    report_moves(config);
    ExitCode::SUCCESS
}

/// `thau sources [--opml]`.
pub fn sources(config: &Config, opml: bool) -> ExitCode {
    if opml {
        print!("{}", crate::edit::sources_opml(config));
    } else {
        for s in &config.sources {
            let paused = if s.enabled { "" } else { "  (paused)" };
            println!(
                "{}\t{}\t{}{paused}",
                s.name,
                crate::redact::redacted_str(&s.location.to_string()),
                s.sections.join(",")
            );
        }
    }
    ExitCode::SUCCESS
}

/// What the store knows that the admin should act on: sources that moved
/// for good or are gone. Advice only: the exit status stays 0.
fn report_moves(config: &Config) {
    // Checking a config must not create a store.
    if !config.store.path.exists() {
        return;
    }
    let store = match Store::open_config(&config.store) {
        Ok(store) => store,
        Err(StoreError::InUse { .. }) => {
            println!("(the store is in use by a running thau; its status page and /api/sources list moved sources)");
            return;
        }
        Err(_) => return,
    };
    for source in &config.sources {
        let Ok(Some(state)) = store.fetch_state(&source.name) else {
            continue;
        };
        if let Some(to) = state.permanent_redirect.as_deref().map(crate::redact::redacted_str) {
            println!(
                "{}: source \"{}\": moved permanently to {to}; set its url to that",
                config.file.display(),
                source.name
            );
        }
        if state.gone {
            println!(
                "{}: source \"{}\": gone (HTTP 410) at its url; it is no longer polled",
                config.file.display(),
                source.name
            );
        }
    }
}

/// What a source's rewrite rules changed in an entry, field by field (HTML
/// as its text, shortened).
fn print_rewritten(before: &crate::model::Entry, after: &crate::model::Entry) {
    let text = visible_text;
    let fields = [
        ("title", before.title.clone(), after.title.clone()),
        (
            "link",
            before.link.clone().unwrap_or_default(),
            after.link.clone().unwrap_or_default(),
        ),
        ("summary", text(&before.summary), text(&after.summary)),
        ("content", text(&before.content), text(&after.content)),
    ];
    for (field, was, now) in fields {
        if was != now {
            let (was_chars, now_chars) = (was.chars().count(), now.chars().count());
            let (was, now) = (crate::publish::shorten(&was, 160), crate::publish::shorten(&now, 160));
            let count = if was == now {
                format!(" ({was_chars} → {now_chars} characters)")
            } else {
                String::new()
            };
            println!("   rewritten {field}{count}:\n     before: {was}\n     after:  {now}");
        }
    }
}

pub fn test_source(config: &Config, name: &str) -> ExitCode {
    let Some(source) = config.source(name) else {
        eprintln!("{}: {}", config.file.display(), config.no_such_source(name));
        return ExitCode::from(UNUSABLE);
    };
    let Some(runtime) = runtime(false) else {
        return ExitCode::from(UNUSABLE);
    };
    let fetched = runtime.block_on(async {
        let outbound = crate::outbound::Outbound::new(&config.poll.internal_networks).map_err(|e| e.to_string())?;
        let fetcher = crate::fetch::Fetcher::new(outbound);
        let limits = crate::fetch::Limits::for_source(&config.poll, source);
        fetcher
            .fetch(&source.location, &Default::default(), limits)
            .await
            .map_err(|e| e.to_string())
    });
    let mut doc = match fetched.map(|out| out.fetched) {
        Ok(crate::fetch::Fetched::Document(doc)) => doc,
        Ok(crate::fetch::Fetched::NotModified) => {
            eprintln!("thau: {name}: not modified");
            return ExitCode::from(SOME_FAILED);
        }
        Err(e) => {
            eprintln!("thau: {name}: {e}");
            return ExitCode::from(SOME_FAILED);
        }
    };
    if let Some(rules) = &source.scrape {
        let stories = crate::pipeline::scrape_page(&mut doc, rules, source.encoding, source.timezone);
        for (i, s) in stories.iter().enumerate() {
            println!("{}. {}", i + 1, s.title);
            println!(
                "   link:     {}",
                s.link.as_deref().unwrap_or("(none: the story is skipped without one)")
            );
            let date = match (&s.date, &s.date_text) {
                (Some(d), _) => d.to_rfc3339(),
                (None, Some(t)) => format!("\"{t}\" is not a date: dated when first seen"),
                (None, None) => "(none: dated when first seen)".into(),
            };
            println!("   date:     {date}");
            for (label, v) in [("summary", &s.summary), ("image", &s.image), ("category", &s.category)] {
                if let Some(v) = v {
                    println!("   {label}:{}{v}", " ".repeat(9 - label.len()));
                }
            }
        }
        println!(
            "{} stories extracted by [sources.scrape]; nothing stored",
            stories.len()
        );
        return if stories.is_empty() {
            ExitCode::from(SOME_FAILED)
        } else {
            ExitCode::SUCCESS
        };
    }
    let cx = crate::normalize::DocContext {
        source: name,
        url: doc.url.as_ref(),
        content_type: doc.content_type.as_deref(),
        timezone: source.timezone,
        max_entries: Some(config.poll.max_entries_per_poll),
        id_from: source.id_from,
    };
    match crate::normalize::parse(&doc.body, &cx) {
        Ok(mut feed) => {
            // Each entry as thau would store it: what a reader will see.
            let now = chrono::Utc::now();
            let raw = std::mem::take(&mut feed.entries);
            let options = crate::pipeline::IngestOptions::of(source, &config.poll);
            for (i, r) in raw.into_iter().enumerate() {
                // The source's rewrite rules: what they changed, before → after.
                let before = (!source.rewrites.is_empty()).then(|| r.clone().finish(&feed, now));
                let e = crate::pipeline::finish(r, &feed, &options, now);
                println!("{}. {}", i + 1, e.title);
                if let Some(before) = before {
                    print_rewritten(&before, &e);
                }
                println!("   link:     {}", e.link.as_deref().unwrap_or("(none)"));
                let date = match e.dated {
                    true => e.published.to_rfc3339(),
                    false => "(none: dated when first seen)".into(),
                };
                println!("   date:     {date}");
                println!("   id:       {}", e.id);
                // The text a reader sees first, as a line: words lost or
                // kept show here before they show in a feed.
                for (label, html) in [("summary:", &e.summary), ("content:", &e.content)] {
                    if html.is_some() {
                        println!("   {label:<9} {}", crate::publish::shorten(&visible_text(html), 160));
                    }
                }
                if !e.categories.is_empty() {
                    println!("   category: {}", e.categories.join(", "));
                }
                if let Some(image) = &e.image {
                    println!("   image:    {image}");
                }
                for enclosure in &e.enclosures {
                    let kind = enclosure.media_type.as_deref().unwrap_or("type not given");
                    println!("   enclosure: {} ({kind})", enclosure.url);
                }
            }
            println!(
                "{} ({} entries); nothing stored",
                feed.title.as_deref().unwrap_or(name),
                feed.total
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("thau: {name}: {e}");
            ExitCode::from(SOME_FAILED)
        }
    }
}

/// An entry's HTML as the text a reader sees, on one line.
fn visible_text(html: &Option<String>) -> String {
    let text = html.as_deref().map(crate::normalize::html_to_text).unwrap_or_default();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
