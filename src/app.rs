//! Composition root: opens the store, publishes what it holds, serves HTTP,
//! polls every source at start and republishes after each poll that changed
//! something; on shutdown stops polling, drains HTTP, and flushes the store.
//! Also `thau export`. The only module that starts tasks.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use axum::serve::ListenerExt;
use chrono::Utc;
use futures_util::StreamExt;
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::config::Config;
use crate::model::Outcome;
use crate::pipeline::Poller;
use crate::publish::{self, Format};
use crate::server::{self, AppState};
use crate::site::Site;
use crate::store::Store;

/// How long in-flight polls get to finish once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Runs `thau serve` until `shutdown` resolves. `on_listening` is told the
/// bound address (the config may say port 0).
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(SocketAddr, &str),
) -> anyhow::Result<()> {
    let store = Arc::new(Store::open(&config.store.path)?);
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let bound = listener.local_addr()?;
    let base_url = config.server.base_url(bound);
    let config = Arc::new(config);

    let site = build_site(&store, &config, &base_url, None).await?;
    let state = Arc::new(AppState {
        store: store.clone(),
        config: ArcSwap::new(config.clone()),
        site: ArcSwap::new(site),
    });
    on_listening(bound, &base_url);

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });

    let changed = Arc::new(Notify::new());
    let publisher = tokio::spawn(republish(
        state.clone(),
        base_url.clone(),
        changed.clone(),
        stop_rx.clone(),
    ));
    let poller = Poller::new(&config, store.clone()).context("cannot build the HTTP client")?;
    let polls = tokio::spawn(startup_poll(poller, config.clone(), changed, stop_rx.clone()));

    let mut stop = stop_rx.clone();
    // Feed responses go out in one write; do not let Nagle hold them.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, server::router(state))
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await?;

    info!("shutting down: waiting for polls in flight");
    if tokio::time::timeout(SHUTDOWN_GRACE, polls).await.is_err() {
        warn!("polls still running after {}s: abandoned", SHUTDOWN_GRACE.as_secs());
    }
    let _ = publisher.await;
    store.flush_async().await?;
    info!("store flushed; bye");
    Ok(())
}

async fn build_site(
    store: &Arc<Store>,
    config: &Arc<Config>,
    base_url: &str,
    previous: Option<Arc<Site>>,
) -> anyhow::Result<Arc<Site>> {
    let (store, config, base_url) = (store.clone(), config.clone(), base_url.to_string());
    let site =
        tokio::task::spawn_blocking(move || Site::build(&store, &config, &base_url, previous.as_deref(), Utc::now()))
            .await??;
    Ok(Arc::new(site))
}

/// Polls every source once, `concurrency` at a time, asking for a new
/// site after each poll that stored something. Stops (dropping the polls in
/// flight: a poll's batch is atomic) when told to.
async fn startup_poll(poller: Poller, config: Arc<Config>, changed: Arc<Notify>, mut stop: watch::Receiver<bool>) {
    let polls = futures_util::stream::iter(config.sources.clone())
        .map(|s| {
            let poller = poller.clone();
            async move { poller.poll(&s).await }
        })
        .buffer_unordered(config.poll.concurrency.max(1))
        .for_each(|report| {
            if matches!(report.outcome, Outcome::New | Outcome::Updated) {
                changed.notify_one();
            }
            async {}
        });
    tokio::select! {
        _ = polls => info!("startup poll done"),
        _ = stop.wait_for(|s| *s) => info!("startup poll interrupted by shutdown"),
    }
}

/// Rebuilds the site when told something changed (coalescing bursts: one
/// rebuild covers every poll that finished before it started).
async fn republish(state: Arc<AppState>, base_url: String, changed: Arc<Notify>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = changed.notified() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let previous = state.site.load_full();
        let config = state.config.load_full();
        match build_site(&state.store, &config, &base_url, Some(previous)).await {
            Ok(site) => state.site.store(site),
            Err(e) => warn!(error = %e, "republishing failed; serving the previous version"),
        }
    }
}

/// What `thau export` wrote.
#[derive(Debug, Default)]
pub struct ExportReport {
    pub written: Vec<PathBuf>,
    pub unchanged: usize,
}

/// Writes the site as static files under `out`. A file whose bytes did not
/// change is not touched, so an unchanged store changes no file.
pub fn export(config: &Config, out: &Path) -> anyhow::Result<ExportReport> {
    let store = Store::open(&config.store.path)?;
    let base_url = config.server.base_url(config.server.listen);
    let site = Site::build(&store, config, &base_url, None, Utc::now())?;
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for s in &site.sections {
        for format in Format::ALL {
            let path = Path::new("sections").join(&s.section.slug).join(format.file_name());
            files.push((path, s.feeds[&format].identity.to_vec()));
        }
    }
    files.push(("sections.opml".into(), site.opml.identity.to_vec()));
    let sources = server::source_statuses(&store, config);
    files.push((
        "index.html".into(),
        publish::index_html(&base_url, &site.summaries(), &sources),
    ));

    let mut report = ExportReport::default();
    for (relative, bytes) in files {
        let path = out.join(&relative);
        if std::fs::read(&path).is_ok_and(|old| old == bytes) {
            report.unchanged += 1;
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        // Write then rename, so a web server never serves half a file.
        let tmp = path.with_extension("tmp~");
        std::fs::write(&tmp, &bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        report.written.push(relative);
    }
    store.flush()?;
    Ok(report)
}
