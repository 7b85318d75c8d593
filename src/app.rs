//! Composition root: opens the store, publishes what it holds, serves HTTP,
//! schedules polls (a spread startup poll, then each source's schedule) and
//! republishes after each poll that changed something; reloads `feeds.toml`
//! when it changes or on SIGHUP; on shutdown stops scheduling, lets polls in
//! flight finish within a deadline, drains HTTP, and flushes the store. Also
//! `thau export`. The only module that starts tasks.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use chrono::Utc;
use tokio::sync::{Notify, mpsc, watch};
use tracing::{info, warn};

use crate::config::Config;
use crate::export::ExportReport;
use crate::metrics::Metrics;
use crate::outbound::Outbound;
use crate::pipeline::Poller;
use crate::publish::{self, Format};
use crate::scheduler::{Leased, Runner, Scheduler, Schedules, Skipped, Trigger};
use crate::select::Selection;
use crate::server::{self, AdminError, AdminRequest, AppState};
use crate::site::Site;
use crate::store::{Store, StoreError};

/// How long in-flight polls get to finish once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long shutdown waits for a render under way.
const RENDER_GRACE: Duration = Duration::from_secs(3);
const PRUNE_FIRST: Duration = Duration::from_secs(60);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How soon a republish that failed is tried again (from a new scan).
const RETRY_GAP: Duration = Duration::from_secs(2);
/// How often `feeds.toml` is checked for changes.
const CONFIG_CHECK: Duration = Duration::from_secs(1);

/// What one `thau serve` process does (`--role`). On sled a process does
/// everything; on PostgreSQL instances may split the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Polls and publishes.
    All,
    /// Polls its share of the sources; serves no HTTP.
    Poller,
    /// Serves the feeds and pages, re-rendered when any poller changes
    /// something; polls nothing on schedule.
    Publisher,
}

impl Role {
    pub fn polls(self) -> bool {
        self != Role::Publisher
    }

    pub fn publishes(self) -> bool {
        self != Role::Poller
    }
}

/// Runs `thau serve` in `role` until `shutdown` resolves. `on_listening`
/// is told the bound address (the config may say port 0), or None for a
/// poller, which serves no HTTP.
pub async fn serve(
    config: Config,
    role: Role,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(Option<SocketAddr>, &str),
) -> anyhow::Result<()> {
    let store = Arc::new(Store::open_config(&config.store)?);
    if role != Role::All && store.shared().is_none() {
        anyhow::bail!(
            "--role {} needs [store] backend = \"postgres\": a sled store belongs to one process",
            if role == Role::Poller { "poller" } else { "publisher" }
        );
    }
    let listeners = match role.publishes() {
        true => Some(
            server::Listeners::bind(config.server.listen)
                .with_context(|| format!("cannot listen on {}", config.server.listen))?,
        ),
        false => None,
    };
    let bound = match &listeners {
        Some(l) => l.local_addr()?,
        None => config.server.listen,
    };
    let config_path = config.file.clone();
    let config = Arc::new(config);
    let base_url = config.server.base_url(bound);

    // Serve at once: the site is rendered in the background (seconds on a
    // store of a million entries); until then feeds answer 503.
    store.track_changes();
    let (admin_tx, admin_rx) = mpsc::channel::<AdminRequest>(16);
    let metrics = Arc::new(Metrics::default());
    let changed = Arc::new(Notify::new());
    // Every request thau sends goes through this one policy.
    let outbound = Outbound::new(&config.poll.internal_networks).context("cannot build the HTTP client")?;
    let subscriber = Arc::new(crate::websub::subscriber::Subscriber::new(
        store.clone(),
        base_url.clone(),
        outbound.clone(),
    ));
    let state = Arc::new(AppState {
        store: store.clone(),
        config: Arc::new(ArcSwap::new(config.clone())),
        site: ArcSwap::new(Arc::new(Site::placeholder(&config, &base_url))),
        config_error: ArcSwap::new(Arc::new(None)),
        admin: admin_tx,
        metrics: metrics.clone(),
        renders: tokio::sync::Semaphore::new(server::VARIANT_RENDERS),
        polls: Arc::default(),
        hub: Arc::new(crate::websub::Hub::new(store.clone(), outbound.clone())),
        subscriber: subscriber.clone(),
        changed: changed.clone(),
    });
    if let Some(pg) = store.shared() {
        // One publisher sends WebSub pushes and writes archive pages and
        // digests, one poller prunes, for all;
        // every publisher re-renders when another instance wrote.
        if role.publishes() {
            pg.contend(crate::store::Duty::Push);
            pg.contend(crate::store::Duty::Archive);
        }
        if role.polls() {
            pg.contend(crate::store::Duty::Prune);
        }
        let changed = changed.clone();
        store.listen(move || changed.notify_one())?;
    }
    on_listening(listeners.is_some().then_some(bound), &base_url);

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });

    let max_connections = max_connections(raise_fd_limit(), config.poll.concurrency);
    let served = listeners.map(|listeners| {
        info!(max_connections, backend = store.backend(), "serving");
        tokio::spawn(server::serve(
            listeners,
            state.clone(),
            stop_rx.clone(),
            max_connections,
        ))
    });

    let publisher = role
        .publishes()
        .then(|| tokio::spawn(republish(state.clone(), bound, changed.clone(), stop_rx.clone())));
    let poller = Poller::new(store.clone(), outbound.clone());
    let runner = Arc::new(
        Runner::new(
            poller,
            state.config.clone(),
            changed.clone(),
            metrics,
            state.polls.clone(),
        )
        .with_subscriber(subscriber),
    );
    let leased = match &config.store.backend {
        crate::config::Backend::Postgres { lease, .. } => Leased::new(runner.clone(), store.clone(), *lease),
        crate::config::Backend::Sled => None,
    };
    let schedules = match (role.polls(), leased) {
        (false, _) => None,
        (true, Some(leased)) => {
            let leased = Arc::new(leased);
            tokio::spawn(leased.clone().run());
            info!(backend = "postgres", "polling the shared schedule");
            Some(Schedules::Shared(leased))
        }
        (true, None) => {
            let scheduler = Scheduler::start(runner.clone())
                .await
                .context("cannot start the scheduler")?;
            scheduler.poll_soon(config.sources.iter().map(|s| s.name.clone()).collect());
            Some(Schedules::Local(scheduler))
        }
    };
    let schedules = Arc::new(schedules);
    tokio::spawn(answer_admin(runner.clone(), admin_rx));
    if role.polls() {
        tokio::spawn(prune_periodically(state.clone(), changed.clone(), stop_rx.clone()));
    }
    if state.store.shared().is_some() {
        tokio::spawn(trim_log_periodically(state.clone(), stop_rx.clone()));
    }
    tokio::spawn(recover_store(state.clone(), changed.clone(), stop_rx.clone()));
    tokio::spawn(watch_config(
        config_path,
        state.clone(),
        schedules.clone(),
        changed.clone(),
        stop_rx.clone(),
    ));

    let served = match served {
        Some(served) => served.await.unwrap_or_else(|e| Err(std::io::Error::other(e))),
        None => {
            let mut stop = stop_rx.clone();
            let _ = stop.wait_for(|s| *s).await;
            Ok(())
        }
    };

    // Ordered shutdown: no new polls, in-flight ones finish (or are dropped
    // whole after the grace period: a poll's batch is atomic), then flush.
    info!("shutting down: stopping schedules, waiting for polls in flight");
    if let Some(schedules) = schedules.as_ref() {
        schedules.shutdown().await;
    }
    if !runner.drain(SHUTDOWN_GRACE).await {
        warn!("polls still running after {}s: abandoned", SHUTDOWN_GRACE.as_secs());
    }
    if let Some(Schedules::Shared(leased)) = schedules.as_ref() {
        let leased = leased.clone();
        let _ = tokio::task::spawn_blocking(move || leased.release()).await;
    }
    // A render under way is not waited for long: what it would publish is
    // rendered again at the next start (the store holds it all).
    if let Some(publisher) = publisher
        && tokio::time::timeout(RENDER_GRACE, publisher).await.is_err()
    {
        warn!(
            "a render was still running after {}s: abandoned",
            RENDER_GRACE.as_secs()
        );
    }
    // A flush that hangs (a full or failing disk) must not keep thau from
    // stopping: give up after the grace period and say so.
    match tokio::time::timeout(SHUTDOWN_GRACE, store.flush_async()).await {
        Ok(flushed) => flushed?,
        Err(_) => anyhow::bail!(
            "the store did not finish writing within {}s; stopping anyway (the last polls may be redone)",
            SHUTDOWN_GRACE.as_secs()
        ),
    }
    served.context("cannot serve HTTP")?;
    info!("store flushed; bye");
    Ok(())
}

/// Raises this process's open-file limit to its hard limit (as nginx's
/// `worker_rlimit_nofile` or Go's runtime do); returns the limit in force.
pub fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct given.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
        limit.rlim_cur as u64
    }
}

/// HTTP connections served at once: the descriptor limit less a reserve
/// for the store, the logs, and the polls (each in flight, and each idle in
/// the client's pool).
pub fn max_connections(fd_limit: u64, concurrency: usize) -> usize {
    let reserve = 64 + 2 * concurrency as u64;
    fd_limit.saturating_sub(reserve).clamp(8, 1_000_000) as usize
}

/// Applies the retention limits a minute after start, then hourly.
async fn prune_periodically(state: Arc<AppState>, changed: Arc<Notify>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + PRUNE_FIRST, PRUNE_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if !state.store.leads(crate::store::Duty::Prune) {
            // Another poller prunes for all.
            continue;
        }
        let (store, config) = (state.store.clone(), state.config.load_full());
        match tokio::task::spawn_blocking(move || crate::retention::prune(&store, &config, Utc::now())).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => {
                info!(pruned = n, "retention limits applied");
                changed.notify_one();
            }
            Ok(Err(e)) => warn!(error = %e, "pruning failed"),
            Err(e) => warn!(error = %e, "pruning failed"),
        }
    }
}

/// Prunes the store's log of changes for publishers (PostgreSQL):
/// publishers read it within moments, and one that falls further behind
/// than [`crate::store::LOG_KEEP`] scans the index again. Every instance
/// does (by age, so they agree), one of them sooner or later: a desk with
/// only publishers and `thau poll` from cron trims it too.
async fn trim_log_periodically(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(crate::store::LOG_KEEP / 5);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let store = state.store.clone();
        match tokio::task::spawn_blocking(move || store.trim_log(crate::store::LOG_KEEP)).await {
            Ok(Ok(n)) => tracing::debug!(rows = n, "store log trimmed"),
            Ok(Err(e)) => warn!(error = %e, "trimming the store's log failed"),
            Err(e) => warn!(error = %e, "trimming the store's log failed"),
        }
    }
}

/// While store writes fail (a full disk), tries every few seconds whether
/// they work again, so thau recovers without a restart (and `/healthz`
/// says so) even when no poll is due; republishes once they do.
async fn recover_store(state: Arc<AppState>, changed: Arc<Notify>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if state.store.health().writable {
            continue;
        }
        let store = state.store.clone();
        let healthy = tokio::task::spawn_blocking(move || {
            store.recover();
            store.health().writable
        })
        .await
        .unwrap_or(false);
        if healthy {
            info!("the store can be written again");
            changed.notify_one();
        }
    }
}

/// Polls on demand for the admin API.
async fn answer_admin(runner: Arc<Runner>, mut requests: mpsc::Receiver<AdminRequest>) {
    while let Some(request) = requests.recv().await {
        let runner = runner.clone();
        tokio::spawn(async move {
            let answer = runner
                .run(&request.source, Trigger::Admin)
                .await
                .map_err(|skipped| match skipped {
                    Skipped::UnknownSource => AdminError::UnknownSource,
                    Skipped::AlreadyRunning => AdminError::Busy("a poll of this source is already running".into()),
                    Skipped::ShuttingDown => AdminError::Busy("shutting down".into()),
                    Skipped::Gated(gate) => AdminError::Busy(format!("{gate:?}")),
                    Skipped::Paused => AdminError::Busy("paused (enabled = false)".into()),
                });
            let _ = request.reply.send(answer);
        });
    }
}

/// Reloads `feeds.toml` when it changes on disk or on SIGHUP.
async fn watch_config(
    path: PathBuf,
    state: Arc<AppState>,
    schedules: Arc<Option<Schedules>>,
    changed: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let stamp = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.modified().ok(), m.len()));
    let mut last = stamp(&path);
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut tick = tokio::time::interval(CONFIG_CHECK);
    loop {
        let by_signal = tokio::select! {
            _ = tick.tick() => false,
            Some(_) = async { hangup.as_mut()?.recv().await } => true,
            _ = stop.wait_for(|s| *s) => return,
        };
        let now = stamp(&path);
        if now == last && !by_signal {
            continue;
        }
        last = now;
        reload(&path, &state, schedules.as_ref().as_ref(), &changed).await;
    }
}

/// Validates the file; applies it if valid, else keeps the running config
/// and shows the problems on the status page and in the log.
pub async fn reload(path: &Path, state: &AppState, schedules: Option<&Schedules>, changed: &Notify) {
    let new = match Config::load(path) {
        Ok(new) => new,
        Err(e) => {
            warn!(error = %e, "feeds.toml is invalid: keeping the running configuration");
            state.config_error.store(Arc::new(Some(e.to_string())));
            return;
        }
    };
    state.config_error.store(Arc::new(None));
    let old = state.config.load_full();
    if *old == new {
        return;
    }
    let diff = ConfigDiff::between(&old, &new);
    info!(
        added = ?diff.added, removed = ?diff.removed, changed = ?diff.changed,
        sections_changed = diff.sections_changed, "feeds.toml reloaded"
    );
    if old.server.listen != new.server.listen || old.store.path != new.store.path {
        warn!("[server].listen and [store].path take effect at the next restart");
    }
    state.polls.retain(|name| new.source(name).is_some());
    state.config.store(Arc::new(new));
    if let Some(schedules) = schedules {
        schedules.reschedule().await;
        schedules
            .poll_soon(diff.added.iter().chain(&diff.changed).cloned().collect())
            .await;
    }
    changed.notify_one();
}

/// What a reload changed, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ConfigDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Sources whose location, sections or timing changed.
    pub changed: Vec<String>,
    pub sections_changed: bool,
}

impl ConfigDiff {
    pub fn between(old: &Config, new: &Config) -> ConfigDiff {
        let mut diff = ConfigDiff {
            sections_changed: old.sections != new.sections,
            ..ConfigDiff::default()
        };
        for s in &new.sources {
            match old.source(&s.name) {
                None => diff.added.push(s.name.clone()),
                Some(o) if o != s => diff.changed.push(s.name.clone()),
                Some(_) => {}
            }
        }
        diff.removed = old
            .sources
            .iter()
            .filter(|s| new.source(&s.name).is_none())
            .map(|s| s.name.clone())
            .collect();
        diff
    }
}

/// Keeps the site up to date: renders it once from a full scan of the
/// store, then after each change applies what the writes did to the
/// selection and renders only the sections that show something else
/// (coalescing bursts: one pass covers every write made before it). A new
/// configuration, or a store that was reopened, starts from a full scan.
/// On PostgreSQL the writes of every instance come from the store's log,
/// in the order they committed, so publishers scan only at start.
async fn republish(state: Arc<AppState>, bound: SocketAddr, changed: Arc<Notify>, mut stop: watch::Receiver<bool>) {
    // The selection, with the configuration and the store generation it was
    // made for.
    let mut current: Option<(Arc<Config>, u64, Selection)> = None;
    // Whether this instance wrote the archive at the last pass.
    let mut archived_before = false;
    loop {
        let config = state.config.load_full();
        let generation = state.store.generation();
        // A publisher that takes the archive over from another instance
        // scans once: what it counted towards the next page, from what it
        // heard, may be off.
        let archives = state.store.leads(crate::store::Duty::Archive);
        let took_over = archives && !archived_before;
        archived_before = archives;
        let rescan = took_over
            || current
                .as_ref()
                .is_none_or(|(c, g, _)| !Arc::ptr_eq(c, &config) || *g != generation);
        let (store, previous) = (state.store.clone(), state.site.load_full());
        let base_url = config.server.base_url(bound);
        let taken = current.take();
        let job = {
            let config = config.clone();
            let (state, started_from) = (state.clone(), previous.clone());
            tokio::task::spawn_blocking(move || -> Result<(Selection, Site, bool), StoreError> {
                let previous = started_from;
                let started = std::time::Instant::now();
                let scan = || store.while_quiet(|view| Selection::scan(view, &config));
                // What a selection made from a new scan shows differently.
                let against = |before: &Selection, fresh: &Selection| {
                    let mut dirty = fresh.changed_since(before);
                    // (A digest frozen elsewhere is not in the selection.)
                    for (d, section) in dirty.iter_mut().zip(&config.sections) {
                        *d |= section.digest.is_some();
                    }
                    dirty
                };
                let (mut selection, dirty) = match taken {
                    Some((_, _, mut selection)) if !rescan => store.follow(|view, news| {
                        if news.rescan {
                            let fresh = Selection::scan(view, &config)?;
                            let dirty = against(&selection, &fresh);
                            return Ok((fresh, Some(dirty)));
                        }
                        let mut dirty = selection.apply(view, &news.changes)?;
                        // What another instance wrote: archive pages (their
                        // section's feed links to them), digests.
                        let index = |slug: &str| config.sections.iter().position(|s| s.slug == slug);
                        for (slug, n) in &news.archived {
                            let Some(i) = index(slug) else { continue };
                            if let Some(page) = view.archive_page::<crate::model::ArchivePage>(slug, *n)? {
                                let per_page = config.server.archive_page_size;
                                selection.archived(i, page.last_published, &page.last_key, per_page);
                            }
                            dirty[i] = true;
                        }
                        for i in news.digests.iter().filter_map(|slug| index(slug)) {
                            dirty[i] = true;
                        }
                        Ok((selection, Some(dirty)))
                    })?,
                    // The store was reopened, or the archive taken over:
                    // scan again, render only the sections that differ.
                    Some((before_config, _, before)) if Arc::ptr_eq(&before_config, &config) => {
                        let fresh = scan()?;
                        let dirty = against(&before, &fresh);
                        (fresh, Some(dirty))
                    }
                    _ => (scan()?, None),
                };
                let selected_ms = started.elapsed().as_millis() as u64;
                let now = Utc::now();
                // Digests and archive pages are written by one publisher
                // (always, on sled); the others render what it wrote, which
                // it tells them of.
                let writes = store.leads(crate::store::Duty::Archive);
                let frozen = match writes {
                    true => crate::digest::freeze_due(&store, &config, &selection, now)?,
                    false => Vec::new(),
                };
                // Not before the first rendering (readers wait for it): in
                // the round right after.
                let archived = if dirty.is_some() && writes {
                    crate::archive::archive_due(&store, &config, &mut selection, now)?
                } else {
                    crate::archive::Archived {
                        sections: Vec::new(),
                        more: writes,
                    }
                };
                let dirty = dirty.map(|mut d| {
                    for (i, d) in d.iter_mut().enumerate() {
                        *d |= frozen.get(i).is_some_and(|f| *f) || archived.sections.get(i).is_some_and(|a| *a);
                    }
                    d
                });
                let previous = previous.ready.then_some(previous.as_ref());
                // Each section that changed is served as soon as it is
                // rendered: a long one does not hold up the others.
                let early = |site: Site| state.site.store(Arc::new(site));
                let site = Site::build_progressively(
                    &store,
                    &config,
                    &selection,
                    &base_url,
                    previous,
                    dirty.as_deref(),
                    now,
                    &early,
                )?;
                tracing::debug!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    selected_ms,
                    rescan,
                    "site republished"
                );
                Ok((selection, site, archived.more))
            })
        };
        match job.await {
            Ok(Ok((selection, site, more))) => {
                if more {
                    // Archive pages remain to be written: another round soon.
                    changed.notify_one();
                }
                state.metrics.record_entries(site.per_source.iter(), site.total_entries);
                let site = Arc::new(site);
                // (Against the site the pass started from: sections served
                // early are pushed with the rest.)
                state.site.store(site.clone());
                // WebSub: what changed goes to the subscribers of each feed.
                // (On PostgreSQL one publisher pushes for all.)
                if state.store.leads(crate::store::Duty::Push)
                    && let Err(e) = state.hub.publish(&config, &previous, &site)
                {
                    warn!(error = %e, "websub: reading subscriptions failed; nothing pushed");
                }
                if let Some(dir) = config.export_dir.clone() {
                    // The daemon holds the store, so `thau export` cannot run
                    // beside it: it writes the static site itself.
                    let (store, config) = (state.store.clone(), config.clone());
                    let written = tokio::task::spawn_blocking(move || write_site(&site, &store, &config, &dir)).await;
                    match written {
                        Ok(Ok(report)) if !report.written.is_empty() => {
                            info!(written = report.written.len(), "static site exported");
                        }
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => warn!(error = %e, "exporting the static site failed"),
                        Err(e) => warn!(error = %e, "exporting the static site failed"),
                    }
                }
                current = Some((config, generation, selection));
            }
            // Again soon, from a full scan (a store that failed once,
            // PostgreSQL restarting say, may work in a moment: not only
            // at the next change, which may never come).
            Ok(Err(e)) => warn!(error = %e, "republishing failed; serving the previous version, retrying"),
            Err(e) => warn!(error = %e, "republishing failed; serving the previous version, retrying"),
        }
        // A digest is due when its period ends, poll or no poll.
        let digest_due = crate::digest::next_due(&state.config.load(), Utc::now())
            .and_then(|t| (t - Utc::now()).to_std().ok())
            .map(|wait| wait + Duration::from_secs(1));
        // A failed pass (or a reopened store) scans again, after a moment.
        if current.is_none() || current.as_ref().is_some_and(|(_, g, _)| *g != state.store.generation()) {
            tokio::select! {
                _ = tokio::time::sleep(RETRY_GAP) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            continue;
        }
        tokio::select! {
            _ = changed.notified() => {}
            _ = async {
                match digest_due {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => std::future::pending().await,
                }
            } => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Writes the site as static files under `out`, as `thau export` does (a
/// file whose bytes did not change is not touched, so an unchanged store
/// changes no file). Each feed and the OPML get `.gz` and `.br` siblings
/// for nginx's `gzip_static`/`brotli_static`.
pub fn export(config: &Config, out: &Path) -> anyhow::Result<ExportReport> {
    let store = Store::open_config(&config.store)?;
    let base_url = config.server.base_url(config.server.listen);
    let selection = Selection::scan(&store, config)?;
    let now = Utc::now();
    crate::digest::freeze_due(&store, config, &selection, now)?;
    let mut selection = selection;
    while crate::archive::archive_due(&store, config, &mut selection, now)?.more {}
    let site = Site::build(&store, config, &selection, &base_url, None, None, now)?;
    let report = write_site(&site, &store, config, out)?;
    store.flush()?;
    Ok(report)
}

fn write_site(site: &Site, store: &Store, config: &Config, out: &Path) -> anyhow::Result<ExportReport> {
    let mut docs: Vec<(PathBuf, &crate::site::Doc)> = Vec::new();
    for s in &site.sections {
        for format in Format::ALL {
            let path = Path::new("sections").join(&s.section.slug).join(format.file_name());
            docs.push((path, &s.feeds[&format]));
            if let Some(digest) = s.digest.get(&format) {
                docs.push((
                    Path::new("sections")
                        .join(&s.section.slug)
                        .join(format.digest_file_name()),
                    digest,
                ));
            }
        }
    }
    if let Some(all) = &site.all {
        for format in Format::ALL {
            docs.push((format.all_file_name().into(), &all.feeds[&format]));
        }
    }
    docs.push(("sections.opml".into(), &site.opml));
    // Archive pages: each written once. A page already in the folder is not
    // rendered again (so a poll does not rewrite thousands of pages).
    let mut archive_pages = Vec::new();
    for s in &site.sections {
        for n in 1..=s.archives {
            let dir = Path::new("sections").join(&s.section.slug).join("archive");
            if out.join(&dir).join(format!("{n}.xml")).exists() {
                continue;
            }
            for format in Format::ALL {
                if let Some(doc) = site.archive_page(store, &s.section.slug, n, format)? {
                    archive_pages.push((dir.join(format!("{n}.{}", format.archive_extension())), doc));
                }
            }
        }
    }
    // The RSS page last, so that an interrupted export writes it again.
    archive_pages.sort_by_key(|(path, _)| path.extension().is_some_and(|e| e == "xml"));
    for (path, doc) in &archive_pages {
        docs.push((path.clone(), doc));
    }
    // No "next poll" in a static page: it would change every minute. A
    // private status is not exported (static files have no token), and
    // one exported while it was public is taken away.
    let private = config.server.status == crate::config::StatusAccess::Private;
    let index = match private {
        true => {
            crate::export::remove_file(out, Path::new("status.html"))?;
            Vec::new()
        }
        false => {
            let sources = server::source_statuses(store, config, site, None, None);
            publish::index_html(&site.base_url, &site.summaries(), &sources, None, None)
        }
    };
    let mut files: Vec<(PathBuf, &[u8])> = Vec::new();
    for (path, doc) in &docs {
        files.push((path.clone(), &doc.identity));
        let sibling = |ext: &str| PathBuf::from(format!("{}.{ext}", path.display()));
        if !doc.gzip.is_empty() {
            files.push((sibling("gz"), &doc.gzip));
        }
        if !doc.brotli.is_empty() {
            files.push((sibling("br"), &doc.brotli));
        }
    }
    if !private {
        files.push(("status.html".into(), &index));
    }
    let pages = site_pages(site, config);
    for (path, bytes) in &pages {
        files.push((path.clone(), bytes));
    }
    Ok(crate::export::write_files(out, files)?)
}

/// The reading pages of a static export: the front page, each section's
/// page and the page of each story they list, with dates (an age would be
/// wrong by the time the page is read).
fn site_pages(site: &Site, config: &Config) -> Vec<(PathBuf, Vec<u8>)> {
    let pages = publish::Pages {
        site: &config.site,
        base_url: &site.base_url,
        sections: &config.sections,
        now: None,
    };
    fn listing(s: &crate::site::SiteSection, n: usize) -> publish::Listing<'_> {
        publish::Listing {
            section: &s.section,
            entries: &s.entries[..s.entries.len().min(n)],
        }
    }
    let fronts: Vec<_> = site
        .sections
        .iter()
        .map(|s| listing(s, publish::FRONT_PAGE_STORIES))
        .collect();
    let mut out = vec![(PathBuf::from("index.html"), pages.front(&fronts))];
    let mut stories = std::collections::BTreeSet::new();
    for s in &site.sections {
        let listing = listing(s, site.page_size);
        out.push((
            Path::new("sections").join(&s.section.slug).join("index.html"),
            pages.section(&listing),
        ));
        stories.extend(listing.entries.iter().map(|e| publish::story_id(e)));
    }
    for id in stories {
        if let Some((entry, sections)) = site.story(&id) {
            out.push((
                Path::new("stories").join(format!("{id}.html")),
                pages.story(&entry, &sections),
            ));
        }
    }
    out
}
