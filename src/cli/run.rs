//! `thau serve`, `poll`, `prune`, `export` and `migrate`: the commands
//! that open the store.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use arc_swap::ArcSwap;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::Notify;

use super::{SOME_FAILED, UNUSABLE, runtime};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::pipeline::Poller;
use crate::scheduler::Runner;
use crate::store::{Store, StoreError};

/// Which backend `thau migrate` copies into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrateTo {
    Postgres,
    Sled,
}

/// `thau prune`: entries past their sections' retention removed, and the
/// store's change log trimmed.
pub fn prune(config: &Config) -> ExitCode {
    let store = match Store::open_config(&config.store) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("thau: {e}");
            return ExitCode::from(UNUSABLE);
        }
    };
    store.set_near_duplicates(config.near_duplicates);
    let pruned = crate::retention::prune(&store, config, chrono::Utc::now())
        .and_then(|n| store.trim_log(crate::store::LOG_KEEP).map(|_| n));
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

/// `thau export OUT`: the site written as static files.
pub fn export(config: &Config, path: &Path, out: &Path) -> ExitCode {
    match crate::app::export(config, out) {
        Ok(report) => {
            println!("{} files written, {} unchanged", report.written.len(), report.unchanged);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("thau: {e:#}");
            if matches!(e.downcast_ref::<StoreError>(), Some(StoreError::InUse { .. })) {
                eprintln!(
                    "thau serve holds the store: set [export] dir = \"{}\" in {} and it writes the site itself after each change",
                    out.display(),
                    path.display()
                );
            }
            ExitCode::from(UNUSABLE)
        }
    }
}

/// `thau migrate`: copies every record of one backend into the other,
/// which must be empty, and checks that both hold as many.
pub fn migrate(config: &Config, to: MigrateTo, url: Option<String>, path: Option<PathBuf>) -> ExitCode {
    let (url, ca) = match &config.store.backend {
        crate::config::Backend::Postgres {
            url: configured, ca, ..
        } => (url.or_else(|| Some(configured.0.clone())), ca.clone()),
        crate::config::Backend::Sled => (url.or_else(|| std::env::var("THAU_DATABASE_URL").ok()), None),
    };
    let Some(url) = url else {
        eprintln!("thau migrate: which database? Give --url postgres://… or set THAU_DATABASE_URL");
        return ExitCode::from(UNUSABLE);
    };
    let path = path.unwrap_or_else(|| config.store.path.clone());
    let opened = Store::open_with(&path, config.store.cache).and_then(|sled| {
        let pg = Store::open_postgres_with(&url, 4, ca.as_deref())?;
        Ok(match to {
            MigrateTo::Postgres => (sled, pg),
            MigrateTo::Sled => (pg, sled),
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
        MigrateTo::Postgres => (format!("sled store {}", path.display()), "PostgreSQL".to_string()),
        MigrateTo::Sled => ("PostgreSQL".to_string(), format!("sled store {}", path.display())),
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
                    MigrateTo::Postgres => "postgres",
                    MigrateTo::Sled => "sled",
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

pub fn serve(config: Config, role: crate::app::Role) -> ExitCode {
    let Some(runtime) = runtime(true) else {
        return ExitCode::from(UNUSABLE);
    };
    let result = runtime.block_on(crate::app::serve(
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

pub fn poll(config: &Config, only: Option<&str>) -> ExitCode {
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
    store.set_near_duplicates(config.near_duplicates);
    let Some(runtime) = runtime(true) else {
        return ExitCode::from(UNUSABLE);
    };
    let poller = match crate::outbound::Outbound::new(&config.poll.internal_networks) {
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
    let counts: Vec<String> = tally
        .iter()
        .map(|(&outcome, &n)| {
            // (The other outcomes are adjectives: "3 new", "2 not-modified".)
            let plural = if outcome == "error" && n != 1 { "s" } else { "" };
            format!("{n} {outcome}{plural}")
        })
        .collect();
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
    if let Err(e) = store.trim_log(crate::store::LOG_KEEP) {
        eprintln!("thau: trimming the store's log: {e}");
    }
    if !failed.is_empty() {
        ExitCode::from(SOME_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

/// A progress bar on standard error when it is a terminal; hidden otherwise
/// (logs, pipes and tests get the lines alone). Log lines go around it
/// ([`LogWriter`]), so none is left half-drawn over.
fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() || len < 2 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} sources polled, {elapsed} (about {eta} left)")
    {
        bar.set_style(style);
    }
    if let Ok(mut shown) = SHOWN_BAR.lock() {
        *shown = Some(bar.clone());
    }
    bar
}

/// The progress bar on screen, if any.
static SHOWN_BAR: std::sync::Mutex<Option<ProgressBar>> = std::sync::Mutex::new(None);

/// Standard error for the logs: a line is written with the progress bar
/// taken off the screen and drawn again after it (no residue of either).
pub struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = SHOWN_BAR.lock().ok().and_then(|b| b.clone());
        match bar {
            Some(bar) if !bar.is_finished() => bar.suspend(|| std::io::stderr().write(buf)),
            _ => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
