//! The `thau` command line: parses arguments, sets up logging, and calls
//! into the library.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use arc_swap::ArcSwap;
use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use thau::config::Config;
use thau::metrics::Metrics;
use thau::pipeline::Poller;
use thau::scheduler::Runner;
use thau::store::{Store, StoreError};
use tokio::sync::Notify;

/// Aggregates RSS, Atom and JSON Feed sources and republishes one merged
/// feed per section.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The configuration file.
    #[arg(long, global = true, default_value = "feeds.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate the configuration; print every problem with its line.
    Check,
    /// Poll every source (or one) once and store what is new.
    Poll {
        /// Poll only this source.
        #[arg(long)]
        source: Option<String>,
    },
    /// Serve the section feeds over HTTP; polls every source at start.
    Serve {
        /// What this instance does. With [store] backend = "postgres",
        /// several instances share the work: pollers split the sources,
        /// publishers serve identical feeds.
        #[arg(long, value_enum, default_value_t = RoleArg::All)]
        role: RoleArg,
    },
    /// Remove entries beyond the [retention] limits (never those a source
    /// still lists); `thau serve` does this hourly.
    Prune,
    /// Write the site to a folder: the section feeds, the "all sections"
    /// feeds, sections.opml, the reading pages and status.html.
    Export {
        /// The folder to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Add a source: a feed URL, or a web page whose feed is found (its
    /// `<link rel="alternate">`, else common paths such as /feed).
    Add {
        url: String,
        /// Its name in feeds.toml (default: from the feed's title).
        #[arg(long)]
        name: Option<String>,
        /// Put it in this section (repeatable).
        #[arg(long)]
        section: Vec<String>,
        /// When the page has several feeds: take the Nth (from 1).
        #[arg(long)]
        pick: Option<usize>,
    },
    /// Add every feed of an OPML file (another reader's export) to
    /// feeds.toml, skipping the ones already there.
    Import {
        /// The OPML file (1.0 or 2.0; folders named like a section go to it).
        file: PathBuf,
        /// Put every imported source in this section too (repeatable).
        #[arg(long)]
        section: Vec<String>,
    },
    /// Remove a source from feeds.toml (its stored entries go with retention).
    Remove {
        /// The source's name.
        name: String,
    },
    /// Fetch a source and print what thau reads of it (for a page, what its
    /// selectors extract), without storing anything.
    TestSource {
        /// The source's name.
        name: String,
    },
    /// List the sources; with --opml, as an OPML subscription list.
    Sources {
        #[arg(long)]
        opml: bool,
    },
    /// Copy the store to the other backend, every record as it is (ids,
    /// dates, fetch state): from sled at [store] path to PostgreSQL, or
    /// back. The target must be empty; then set [store] backend.
    Migrate {
        /// The backend to copy to.
        #[arg(long, value_enum)]
        to: BackendArg,
        /// The PostgreSQL database (default: [store] url, else
        /// $THAU_DATABASE_URL).
        #[arg(long)]
        url: Option<String>,
        /// The sled folder (default: [store] path).
        #[arg(long)]
        path: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RoleArg {
    All,
    Poller,
    Publisher,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BackendArg {
    Postgres,
    Sled,
}

/// Exit statuses: 0 all good, 1 some source failed, 2 configuration or store error.
const SOME_FAILED: u8 = 1;
const UNUSABLE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Colours only on a terminal, and not when NO_COLOR is set (no-color.org):
    // journald and log files get plain text.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();

    let config = match Config::load(&cli.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(UNUSABLE);
        }
    };
    match cli.command {
        Command::Check => {
            println!(
                "{}: ok ({} sources, {} sections)",
                cli.config.display(),
                config.sources.len(),
                config.sections.len()
            );
            report_moves(&config);
            ExitCode::SUCCESS
        }
        Command::Poll { source } => poll(&config, source.as_deref()),
        Command::Serve { role } => serve(
            config,
            match role {
                RoleArg::All => thau::app::Role::All,
                RoleArg::Poller => thau::app::Role::Poller,
                RoleArg::Publisher => thau::app::Role::Publisher,
            },
        ),
        Command::Migrate { to, url, path } => migrate(&config, to, url, path),
        Command::Prune => {
            let store = match Store::open_config(&config.store) {
                Ok(store) => store,
                Err(e) => {
                    eprintln!("thau: {e}");
                    return ExitCode::from(UNUSABLE);
                }
            };
            let pruned = thau::retention::prune(&store, &config, chrono::Utc::now())
                .and_then(|n| store.trim_log(thau::store::LOG_KEEP).map(|_| n));
            match pruned {
                Ok(n) => {
                    println!("{n} {} pruned", if n == 1 { "entry" } else { "entries" });
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("thau: {e}");
                    ExitCode::from(UNUSABLE)
                }
            }
        }
        Command::Export { out } => match thau::app::export(&config, &out) {
            Ok(report) => {
                for path in &report.written {
                    println!("wrote {}", out.join(path).display());
                }
                println!("{} files written, {} unchanged", report.written.len(), report.unchanged);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("thau: {e:#}");
                if matches!(e.downcast_ref::<StoreError>(), Some(StoreError::InUse { .. })) {
                    eprintln!(
                        "thau serve holds the store: set [export] dir = \"{}\" in {} and it writes the site itself after each change",
                        out.display(),
                        cli.config.display()
                    );
                }
                ExitCode::from(UNUSABLE)
            }
        },
        Command::Add {
            url,
            name,
            section,
            pick,
        } => add(&config, &cli.config, &url, name, &section, pick),
        Command::Import { file, section } => import(&config, &cli.config, &file, &section),
        Command::Remove { name } => edited(&cli.config, |text, _| {
            thau::edit::remove_source(text, &cli.config, &name)
        })
        .map_or_else(
            |code| code,
            |()| {
                println!("removed source \"{name}\" from {}", cli.config.display());
                ExitCode::SUCCESS
            },
        ),
        Command::TestSource { name } => test_source(&config, &name),
        Command::Sources { opml } => {
            if opml {
                print!("{}", thau::edit::sources_opml(&config));
            } else {
                for s in &config.sources {
                    let paused = if s.enabled { "" } else { "  (paused)" };
                    println!(
                        "{}\t{}\t{}{paused}",
                        s.name,
                        thau::redact::redacted_str(&s.location.to_string()),
                        s.sections.join(",")
                    );
                }
            }
            ExitCode::SUCCESS
        }
    }
}

/// Reads feeds.toml, edits it with `edit` (given its text and the config
/// it holds now), writes it atomically, all under its edit lock; the exit
/// status on failure (the file untouched).
fn edited(
    path: &Path,
    edit: impl FnOnce(&str, &Config) -> Result<String, thau::edit::EditError>,
) -> Result<(), ExitCode> {
    thau::edit::edit_file(path, edit).map_err(|e| {
        eprintln!("thau: {e}");
        ExitCode::from(UNUSABLE)
    })
}

fn add(
    config: &Config,
    path: &Path,
    url: &str,
    name: Option<String>,
    sections: &[String],
    pick: Option<usize>,
) -> ExitCode {
    if let Err(code) = known_sections(config, path, sections) {
        return code;
    }
    let Ok(url) =
        url::Url::parse(url).map_err(|e| eprintln!("thau: {}: not a URL ({e})", thau::redact::redacted_str(url)))
    else {
        return ExitCode::from(UNUSABLE);
    };
    let Some(runtime) = runtime(false) else {
        return ExitCode::from(UNUSABLE);
    };
    let found = match runtime.block_on(thau::edit::discover(&url, config)) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("thau: {}: {e}", thau::redact::Redacted(&url));
            return ExitCode::from(UNUSABLE);
        }
    };
    // Shown, never with credentials; written to feeds.toml as given.
    let shown = thau::redact::Redacted(&url);
    let chosen = match (found.len(), pick) {
        (0, _) => {
            eprintln!(
                "thau: {shown}: no feed found (the page announces none, and none of /feed, /rss.xml, /atom.xml, /feed.xml, /index.xml, /rss, /feed.json answered with one)"
            );
            return ExitCode::from(UNUSABLE);
        }
        (_, Some(n)) if n >= 1 && n <= found.len() => &found[n - 1],
        (_, Some(n)) => {
            eprintln!("thau: --pick {n}: there are {} feeds", found.len());
            return ExitCode::from(UNUSABLE);
        }
        (1, None) => &found[0],
        (_, None) => {
            let terminal = std::io::stdin().is_terminal();
            if terminal {
                eprintln!("{shown} has {} feeds:", found.len());
            } else {
                eprintln!("thau: {shown} has {} feeds; run again with --pick N:", found.len());
            }
            for (i, c) in found.iter().enumerate() {
                eprintln!(
                    "  {}. {}  {}",
                    i + 1,
                    thau::redact::redacted_str(&c.url),
                    c.title.as_deref().unwrap_or("")
                );
            }
            if !terminal {
                return ExitCode::from(UNUSABLE);
            }
            // On a terminal, the admin picks one now.
            eprint!("Which one (1-{})? ", found.len());
            let mut answer = String::new();
            let picked = std::io::stdin()
                .read_line(&mut answer)
                .ok()
                .and_then(|_| answer.trim().parse::<usize>().ok())
                .filter(|n| (1..=found.len()).contains(n));
            match picked {
                Some(n) => &found[n - 1],
                None => {
                    eprintln!("thau: nothing picked; nothing added");
                    return ExitCode::from(UNUSABLE);
                }
            }
        }
    };
    // Checked against the file as it is under the lock: another `thau
    // add` may have written it since this one started.
    let mut added = None;
    let written = edited(path, |text, now| {
        let followed = now.sources.iter().find(|s| match &s.location {
            thau::config::Location::Url(u) => u.as_str().trim_end_matches('/') == chosen.url.trim_end_matches('/'),
            _ => false,
        });
        if let Some(s) = followed {
            return Err(thau::edit::EditError::Followed(
                thau::redact::redacted_str(&chosen.url).into_owned(),
                s.name.clone(),
            ));
        }
        let taken = now.sources.iter().map(|s| s.name.clone()).collect();
        let source = thau::edit::NewSource {
            name: name.unwrap_or_else(|| thau::edit::derive_name(chosen.title.as_deref(), &chosen.url, &taken)),
            url: chosen.url.clone(),
            title: chosen.title.clone(),
            sections: sections.to_vec(),
        };
        let new = thau::edit::add_sources(text, path, std::slice::from_ref(&source))?;
        added = Some(source);
        Ok(new)
    });
    match (written, added) {
        (Ok(()), Some(source)) => {
            println!("added {}  {}", source.name, thau::redact::redacted_str(&source.url));
            ExitCode::SUCCESS
        }
        (Err(code), _) => code,
        (Ok(()), None) => ExitCode::from(UNUSABLE),
    }
}

fn test_source(config: &Config, name: &str) -> ExitCode {
    let Some(source) = config.source(name) else {
        eprintln!("{}: {}", config.file.display(), config.no_such_source(name));
        return ExitCode::from(UNUSABLE);
    };
    let Some(runtime) = runtime(false) else {
        return ExitCode::from(UNUSABLE);
    };
    let fetched = runtime.block_on(async {
        let outbound = thau::outbound::Outbound::new(&config.poll.internal_networks).map_err(|e| e.to_string())?;
        let fetcher = thau::fetch::Fetcher::new(outbound);
        let limits = thau::fetch::Limits::for_source(&config.poll, source);
        fetcher
            .fetch(&source.location, &Default::default(), limits)
            .await
            .map_err(|e| e.to_string())
    });
    let mut doc = match fetched.map(|out| out.fetched) {
        Ok(thau::fetch::Fetched::Document(doc)) => doc,
        Ok(thau::fetch::Fetched::NotModified) => {
            eprintln!("thau: {name}: not modified");
            return ExitCode::from(SOME_FAILED);
        }
        Err(e) => {
            eprintln!("thau: {name}: {e}");
            return ExitCode::from(SOME_FAILED);
        }
    };
    if let Some(rules) = &source.scrape {
        let stories = thau::pipeline::scrape_page(&mut doc, rules, source.encoding, source.timezone);
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
    let cx = thau::normalize::DocContext {
        source: name,
        url: doc.url.as_ref(),
        content_type: doc.content_type.as_deref(),
        timezone: source.timezone,
        max_entries: Some(config.poll.max_entries_per_poll),
        id_from: source.id_from,
    };
    match thau::normalize::parse(&doc.body, &cx) {
        Ok(feed) => {
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

/// Every `--section` names a section of the config.
fn known_sections(config: &Config, path: &Path, sections: &[String]) -> Result<(), ExitCode> {
    match sections
        .iter()
        .find(|slug| !config.sections.iter().any(|s| &s.slug == *slug))
    {
        Some(slug) => {
            eprintln!("thau: --section {slug}: no such section in {}", path.display());
            Err(ExitCode::from(UNUSABLE))
        }
        None => Ok(()),
    }
}

fn import(config: &Config, path: &Path, file: &Path, sections: &[String]) -> ExitCode {
    if let Err(code) = known_sections(config, path, sections) {
        return code;
    }
    let opml = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("thau: cannot read {}: {e}", file.display());
            return ExitCode::from(UNUSABLE);
        }
    };
    // Compared with the file as it is under the lock.
    let mut imported = None;
    let written = edited(path, |text, now| {
        let found = thau::edit::import_opml(now, &opml, sections)
            .map_err(|e| thau::edit::EditError::InFile(file.display().to_string(), Box::new(e)))?;
        let new = match found.added.is_empty() {
            true => text.to_string(),
            false => thau::edit::add_sources(text, path, &found.added)?,
        };
        imported = Some(found);
        Ok(new)
    });
    let imported = match (written, imported) {
        (Ok(()), Some(imported)) => imported,
        (Err(code), _) => return code,
        (Ok(()), None) => return ExitCode::from(UNUSABLE),
    };
    // Credentials in the file are written to feeds.toml, never echoed.
    for s in &imported.added {
        println!("added   {}  {}", s.name, thau::redact::redacted_str(&s.url));
    }
    for url in &imported.skipped {
        println!(
            "skipped {}  (already followed, or not an http(s) feed)",
            thau::redact::redacted_str(url)
        );
    }
    println!(
        "{} added, {} skipped; {} written",
        imported.added.len(),
        imported.skipped.len(),
        if imported.added.is_empty() {
            "nothing"
        } else {
            "feeds.toml"
        }
    );
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
        if let Some(to) = state.permanent_redirect.as_deref().map(thau::redact::redacted_str) {
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

/// `thau migrate`: copies every record of one backend into the other,
/// which must be empty, and checks that both hold as many.
fn migrate(config: &Config, to: BackendArg, url: Option<String>, path: Option<PathBuf>) -> ExitCode {
    let (url, ca) = match &config.store.backend {
        thau::config::Backend::Postgres {
            url: configured, ca, ..
        } => (url.or_else(|| Some(configured.0.clone())), ca.clone()),
        thau::config::Backend::Sled => (url.or_else(|| std::env::var("THAU_DATABASE_URL").ok()), None),
    };
    let Some(url) = url else {
        eprintln!("thau migrate: which database? Give --url postgres://… or set THAU_DATABASE_URL");
        return ExitCode::from(UNUSABLE);
    };
    let path = path.unwrap_or_else(|| config.store.path.clone());
    let opened = Store::open_with(&path, config.store.cache).and_then(|sled| {
        let pg = Store::open_postgres_with(&url, 4, ca.as_deref())?;
        Ok(match to {
            BackendArg::Postgres => (sled, pg),
            BackendArg::Sled => (pg, sled),
        })
    });
    let (from, into) = match opened {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("thau migrate: {e}");
            return ExitCode::from(UNUSABLE);
        }
    };
    let (from_name, into_name) = match to {
        BackendArg::Postgres => (format!("sled store {}", path.display()), "PostgreSQL".to_string()),
        BackendArg::Sled => ("PostgreSQL".to_string(), format!("sled store {}", path.display())),
    };
    match from.copy_into(&into) {
        Ok(copied) => {
            println!(
                "thau migrate: copied {} records ({} entries, {} sources' fetch state) from {from_name} to {into_name}",
                copied.records, copied.entries, copied.sources
            );
            println!(
                "now set [store] backend = \"{}\" in feeds.toml",
                match to {
                    BackendArg::Postgres => "postgres",
                    BackendArg::Sled => "sled",
                }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("thau migrate: {e}");
            ExitCode::from(UNUSABLE)
        }
    }
}

fn serve(config: Config, role: thau::app::Role) -> ExitCode {
    let Some(runtime) = runtime(true) else {
        return ExitCode::from(UNUSABLE);
    };
    let result = runtime.block_on(thau::app::serve(
        config,
        role,
        shutdown_signal(),
        |addr, base_url| match addr {
            Some(addr) => println!("thau: listening on http://{addr}/ (feeds published under {base_url}/)"),
            None => println!("thau: polling (this instance serves no HTTP)"),
        },
    ));
    // A poll stuck in a store write must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("thau: {e:#}");
            ExitCode::from(UNUSABLE)
        }
    }
}

/// An async runtime on all cores, or on this thread only (a command that
/// fetches a page or two); None, having said why, when it cannot start.
fn runtime(multi_thread: bool) -> Option<tokio::runtime::Runtime> {
    let built = match multi_thread {
        true => tokio::runtime::Runtime::new(),
        false => tokio::runtime::Builder::new_current_thread().enable_all().build(),
    };
    built
        .map_err(|e| eprintln!("thau: cannot start the async runtime: {e}"))
        .ok()
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

fn poll(config: &Config, only: Option<&str>) -> ExitCode {
    let names: Vec<String> = match only {
        // Paused sources (`enabled = false`) are polled only when named.
        None => config
            .sources
            .iter()
            .filter(|s| s.enabled)
            .map(|s| s.name.clone())
            .collect(),
        Some(name) => match config.source(name) {
            Some(s) => vec![s.name.clone()],
            None => {
                eprintln!("{}: {}", config.file.display(), config.no_such_source(name));
                return ExitCode::from(UNUSABLE);
            }
        },
    };
    let store = match Store::open_config(&config.store) {
        Ok(store) => Arc::new(store),
        Err(e @ StoreError::InUse { .. }) => {
            eprintln!(
                "thau: {e}.\nIs `thau serve` running? It polls on schedule; to poll a source now, ask it:\n  curl -X POST -H 'Authorization: Bearer <[server].admin_token>' {}/api/sources/<name>/poll",
                config.server.base_url(config.server.listen)
            );
            return ExitCode::from(UNUSABLE);
        }
        Err(e) => {
            eprintln!("thau: {e}");
            return ExitCode::from(UNUSABLE);
        }
    };
    let Some(runtime) = runtime(true) else {
        return ExitCode::from(UNUSABLE);
    };
    let poller = match thau::outbound::Outbound::new(&config.poll.internal_networks) {
        Ok(outbound) => Poller::new(store.clone(), outbound),
        Err(e) => {
            eprintln!("thau: cannot build the HTTP client: {e}");
            return ExitCode::from(UNUSABLE);
        }
    };
    // The daemon's runner: the same concurrency and per-host limits.
    let runner = Runner::new(
        poller,
        Arc::new(ArcSwap::from_pointee(config.clone())),
        Arc::new(Notify::new()),
        Arc::new(Metrics::default()),
        Arc::default(),
    );
    let width = names.iter().map(String::len).max().unwrap_or(0);
    let progress = progress_bar(names.len() as u64);
    let started = std::time::Instant::now();
    let mut tally: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut failed: Vec<String> = Vec::new();
    runtime.block_on(async {
        let mut reports = std::pin::pin!(runner.run_each(&names));
        while let Some(r) = reports.next().await {
            // Each line as its poll ends: with thousands of sources, the
            // first ones are minutes ahead of the last.
            progress.suspend(|| println!("{:width$}  {:<12}  {}", r.source, r.outcome.as_str(), r.detail()));
            progress.inc(1);
            *tally.entry(r.outcome.as_str()).or_default() += 1;
            if r.outcome.is_failure() {
                failed.push(r.source);
            }
        }
    });
    progress.finish_and_clear();
    let counts: Vec<String> = tally.iter().map(|(outcome, n)| format!("{n} {outcome}")).collect();
    println!(
        "{} {} polled in {:.1}s: {}",
        names.len(),
        if names.len() == 1 { "source" } else { "sources" },
        started.elapsed().as_secs_f64(),
        counts.join(", ")
    );
    if !failed.is_empty() {
        failed.sort();
        println!("failed: {}", failed.join(", "));
    }
    if let Err(e) = store.flush() {
        eprintln!("thau: {e}");
        return ExitCode::from(UNUSABLE);
    }
    // (On PostgreSQL: `thau poll` from cron, with no daemon polling, must
    // not let the log for publishers grow.)
    if let Err(e) = store.trim_log(thau::store::LOG_KEEP) {
        eprintln!("thau: trimming the store's log: {e}");
    }
    if !failed.is_empty() {
        ExitCode::from(SOME_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

/// `RUST_LOG` (default: warnings), with html5ever's parse-error chatter off
/// unless asked for by name: one entry of broken tables made it log
/// 200,000 warnings.
fn log_filter() -> tracing_subscriber::EnvFilter {
    let asked = std::env::var("RUST_LOG").unwrap_or_default();
    let mut filter = tracing_subscriber::EnvFilter::try_new(if asked.trim().is_empty() { "warn" } else { &asked })
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    if !asked.contains("html5ever")
        && let Ok(quiet) = "html5ever=error".parse()
    {
        filter = filter.add_directive(quiet);
    }
    filter
}

/// A progress bar on standard error when it is a terminal; hidden otherwise
/// (logs, pipes and tests get the lines alone).
fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() || len < 2 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} sources polled, {elapsed} (about {eta} left)")
    {
        bar.set_style(style);
    }
    bar
}
