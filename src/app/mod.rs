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

mod republish;
mod static_site;
mod tasks;

use republish::*;
pub use static_site::export;
use static_site::*;
use tasks::*;
pub use tasks::{ACTIVITY, ConfigDiff, reload};

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
    store.set_near_duplicates(config.near_duplicates);
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
    // Every request thau sends goes through this one policy.
    let outbound = Outbound::new(&config.poll.internal_networks).context("cannot build the HTTP client")?;
    let (state, admin_rx) = app_state(&store, &config, &base_url, &outbound);
    let (metrics, changed, subscriber) = (state.metrics.clone(), state.changed.clone(), state.subscriber.clone());
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

    let publisher = role.publishes().then(|| {
        tokio::spawn(republish(
            state.clone(),
            bound,
            changed.clone(),
            stop_rx.clone(),
            role.polls(),
        ))
    });
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
    let schedules = match role.polls() {
        true => Some(start_schedules(&config, &runner, &store).await?),
        false => None,
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
    let rounds = tokio::spawn(announce_rounds(state.polls.clone(), stop_rx.clone()));
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

    stop_in_order(schedules.as_ref().as_ref(), &runner, publisher, &store).await?;
    // (The polls that ended while stopping are said too.)
    let _ = tokio::time::timeout(Duration::from_secs(1), rounds).await;
    served.context("cannot serve HTTP")?;
    info!(target: ACTIVITY, "stopped: store flushed");
    Ok(())
}

/// What the handlers and tasks share, and where admin requests arrive.
fn app_state(
    store: &Arc<Store>,
    config: &Arc<Config>,
    base_url: &str,
    outbound: &Outbound,
) -> (Arc<AppState>, mpsc::Receiver<AdminRequest>) {
    let (admin_tx, admin_rx) = mpsc::channel::<AdminRequest>(16);
    let subscriber = Arc::new(crate::websub::subscriber::Subscriber::new(
        store.clone(),
        base_url.to_string(),
        outbound.clone(),
    ));
    let state = Arc::new(AppState {
        store: store.clone(),
        config: Arc::new(ArcSwap::new(config.clone())),
        site: ArcSwap::new(Arc::new(Site::placeholder(config, base_url))),
        config_error: ArcSwap::new(Arc::new(None)),
        admin: admin_tx,
        metrics: Arc::new(Metrics::default()),
        renders: tokio::sync::Semaphore::new(server::VARIANT_RENDERS),
        polls: Arc::default(),
        hub: Arc::new(crate::websub::Hub::new(store.clone(), outbound.clone())),
        subscriber,
        changed: Arc::new(Notify::new()),
        images: server::Images::new(crate::fetch::Fetcher::new(outbound.clone())),
    });
    (state, admin_rx)
}

/// Polling: each source's own schedule (sled), or this instance's share
/// of the schedule PostgreSQL pollers share.
async fn start_schedules(config: &Config, runner: &Arc<Runner>, store: &Arc<Store>) -> anyhow::Result<Schedules> {
    let leased = match &config.store.backend {
        crate::config::Backend::Postgres { lease, .. } => Leased::new(runner.clone(), store.clone(), *lease),
        crate::config::Backend::Sled => None,
    };
    Ok(match leased {
        Some(leased) => {
            let leased = Arc::new(leased);
            tokio::spawn(leased.clone().run());
            info!(backend = "postgres", "polling the shared schedule");
            Schedules::Shared(leased)
        }
        None => {
            let scheduler = Scheduler::start(runner.clone())
                .await
                .context("cannot start the scheduler")?;
            scheduler.poll_soon(config.sources.iter().map(|s| s.name.clone()).collect());
            Schedules::Local(scheduler)
        }
    })
}

/// Ordered shutdown: no new polls, in-flight ones finish (or are dropped
/// whole after the grace period: a poll's batch is atomic), a render under
/// way is given a moment, then the store is flushed.
async fn stop_in_order(
    schedules: Option<&Schedules>,
    runner: &Runner,
    publisher: Option<tokio::task::JoinHandle<()>>,
    store: &Store,
) -> anyhow::Result<()> {
    info!(target: ACTIVITY, "stopping: no new polls; waiting for those in flight");
    if let Some(schedules) = schedules {
        schedules.shutdown().await;
    }
    if !runner.drain(SHUTDOWN_GRACE).await {
        warn!("polls still running after {}s: abandoned", SHUTDOWN_GRACE.as_secs());
    }
    if let Some(Schedules::Shared(leased)) = schedules {
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
