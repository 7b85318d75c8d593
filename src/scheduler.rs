//! Runs polls on time: one tokio-cron-scheduler job per source (its cron
//! schedule or `every` interval), a spread startup poll, and polls on
//! demand. A source is never polled twice at once; `[poll].concurrency` and
//! `per_host` bound polls in flight; the [`schedule`](crate::schedule) gate
//! applies backoff, `Retry-After`, freshness and 410. tokio-cron-scheduler
//! does not wait for its jobs, so in-flight polls are tracked here for an
//! orderly shutdown. Wires `pipeline` and `schedule`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, Semaphore, SemaphorePermit};
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};
use tracing::{debug, info, warn};
use uuid::Uuid;

use crate::config::{Config, Timing};
use crate::metrics::Metrics;
use crate::model::Outcome;
use crate::pipeline::{PollReport, Poller};
use crate::schedule::{Gate, gate, spread_offset, startup_window, tick_window};

/// Why a poll runs: scheduled and startup polls pass through the politeness
/// gate (a restart must not forget a 410 or a backoff); an admin's do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Startup,
    Schedule,
    /// An admin asked (`POST /api/sources/{name}/poll`).
    Admin,
}

/// What recent polls said, in memory, for the status page and `/healthz`:
/// it holds even what the store could not record (a full disk).
/// It also gathers the polls since the daemon last said what they did
/// (a [`Round`]).
#[derive(Debug, Default)]
pub struct PollLog {
    inner: Mutex<PollLogInner>,
    /// Told after each poll is recorded.
    polled: Notify,
    /// How many polls were recorded since start (deferred ones aside).
    recorded: tokio::sync::watch::Sender<usize>,
}

#[derive(Debug, Default)]
struct PollLogInner {
    /// Sources whose last poll failed: when, and why.
    failing: BTreeMap<String, (DateTime<Utc>, String)>,
    /// The last poll that fetched a document (200 or 304).
    last_success: Option<DateTime<Utc>>,
    round: Round,
}

/// What the polls since the last round line did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    pub polled: usize,
    pub new: u64,
    pub updated: u64,
    pub failed: usize,
    /// The first few failures: source and why.
    pub errors: Vec<(String, String)>,
}

/// Failures a round line names (the others are counted).
const ROUND_ERRORS_NAMED: usize = 3;

impl Round {
    /// `12 sources polled: 3 new stories, 1 error (courrier: HTTP 503)`;
    /// None when nothing was polled.
    pub fn line(&self) -> Option<String> {
        if self.polled == 0 {
            return None;
        }
        let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut said = vec![match self.new {
            0 => "no new story".to_string(),
            n => plural(n, "new story", "new stories"),
        }];
        if self.updated > 0 {
            said.push(format!("{} updated", self.updated));
        }
        if self.failed > 0 {
            let mut named: Vec<String> = self
                .errors
                .iter()
                .map(|(source, why)| format!("{source}: {}", short(why)))
                .collect();
            if self.failed > self.errors.len() {
                named.push(format!("{} more", self.failed - self.errors.len()));
            }
            said.push(format!(
                "{} ({})",
                plural(self.failed as u64, "error", "errors"),
                named.join("; ")
            ));
        }
        let sources = plural(self.polled as u64, "source", "sources");
        Some(format!("{sources} polled: {}", said.join(", ")))
    }
}

/// An error as a round line shows it: its first line, at most 100 characters.
fn short(why: &str) -> String {
    let line = why.lines().next().unwrap_or("");
    match line.char_indices().nth(100) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_string(),
    }
}

impl PollLog {
    pub fn record(&self, report: &PollReport, at: DateTime<Utc>) {
        let mut log = lock(&self.inner);
        if report.outcome != Outcome::Deferred {
            let round = &mut log.round;
            round.polled += 1;
            round.new += u64::from(report.counts.new);
            round.updated += u64::from(report.counts.updated);
            if report.outcome == Outcome::Error {
                round.failed += 1;
                if round.errors.len() < ROUND_ERRORS_NAMED {
                    let why = report.error.clone().unwrap_or_default();
                    round.errors.push((report.source.clone(), why));
                }
            }
        }
        match report.outcome {
            Outcome::Error => {
                let why = report.error.clone().unwrap_or_default();
                log.failing.insert(report.source.clone(), (at, why));
            }
            Outcome::Deferred => {}
            _ => {
                log.failing.remove(&report.source);
                log.last_success = Some(at);
            }
        }
        drop(log);
        if report.outcome != Outcome::Deferred {
            self.recorded.send_modify(|n| *n += 1);
        }
        self.polled.notify_one();
    }

    /// Resolves once `count` polls were recorded since start.
    pub async fn recorded(&self, count: usize) {
        let _ = self.recorded.subscribe().wait_for(|n| *n >= count).await;
    }

    /// Resolves once a poll was recorded since the last call.
    pub async fn polled(&self) {
        self.polled.notified().await;
    }

    /// The polls since the last call.
    pub fn take_round(&self) -> Round {
        std::mem::take(&mut lock(&self.inner).round)
    }

    /// Sources whose last poll failed, by name: when, and why.
    pub fn failing(&self) -> BTreeMap<String, (DateTime<Utc>, String)> {
        lock(&self.inner).failing.clone()
    }

    pub fn last_success(&self) -> Option<DateTime<Utc>> {
        lock(&self.inner).last_success
    }

    /// Forgets sources no longer configured.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        lock(&self.inner).failing.retain(|name, _| keep(name));
    }
}

/// Runs one poll at a time per source, within the global and per-host limits.
pub struct Runner {
    poller: Poller,
    metrics: Arc<Metrics>,
    log: Arc<PollLog>,
    config: Arc<ArcSwap<Config>>,
    /// Sources being polled; shutdown waits for it to empty.
    running: Mutex<HashSet<String>>,
    global: Limit,
    hosts: Mutex<HashMap<String, Arc<Limit>>>,
    /// Told after every poll that stored something.
    changed: Arc<Notify>,
    /// Told when `running` empties.
    idle: Notify,
    stopping: AtomicBool,
    /// The daemon's WebSub subscriber (none for `thau poll`).
    subscriber: Option<Arc<crate::websub::subscriber::Subscriber>>,
}

/// Why a requested poll did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skipped {
    UnknownSource,
    AlreadyRunning,
    ShuttingDown,
    Gated(Gate),
    /// `enabled = false`: only an admin's poll runs.
    Paused,
}

impl Runner {
    pub fn new(
        poller: Poller,
        config: Arc<ArcSwap<Config>>,
        changed: Arc<Notify>,
        metrics: Arc<Metrics>,
        log: Arc<PollLog>,
    ) -> Runner {
        let concurrency = config.load().poll.concurrency;
        Runner {
            poller,
            metrics,
            log,
            config,
            running: Mutex::new(HashSet::new()),
            global: Limit::new(concurrency),
            hosts: Mutex::new(HashMap::new()),
            changed,
            idle: Notify::new(),
            stopping: AtomicBool::new(false),
            subscriber: None,
        }
    }

    /// Subscribes sources with `websub` to their hubs after their polls,
    /// and polls those that push only every `[websub] poll_interval`.
    pub fn with_subscriber(self, subscriber: Arc<crate::websub::subscriber::Subscriber>) -> Runner {
        Runner {
            subscriber: Some(subscriber),
            ..self
        }
    }

    /// Polls `name` now (unless gated, already running, or shutting down).
    pub async fn run(&self, name: &str, trigger: Trigger) -> Result<PollReport, Skipped> {
        if self.stopping.load(Ordering::SeqCst) {
            return Err(Skipped::ShuttingDown);
        }
        let config = self.config.load_full();
        let source = config.source(name).ok_or(Skipped::UnknownSource)?.clone();
        if !source.enabled && trigger != Trigger::Admin {
            return Err(Skipped::Paused);
        }
        let state = match trigger {
            Trigger::Admin => None,
            _ => self.poller.fetch_state(name),
        };
        // What the store says of another location (the url changed) does
        // not hold for this one.
        if let Some(state) = state.filter(|s| s.location == source.location.as_key()) {
            let verdict = gate(
                &state,
                Utc::now(),
                config.poll.backoff_cap,
                config.poll.respect_cache_headers,
            );
            if verdict != Gate::Open {
                debug!(source = name, ?verdict, "scheduled poll skipped");
                return Err(Skipped::Gated(verdict));
            }
            // A source whose hub pushes is polled only now and then, in
            // case a push was lost.
            if trigger == Trigger::Schedule
                && source.websub
                && let Some(sub) = &self.subscriber
                && sub.state(name).is_some_and(|p| p.active(Utc::now()))
                && let Some(last) = state.last_poll
            {
                let next = last + chrono::Duration::from_std(config.websub.poll_interval).unwrap_or_default();
                if next > Utc::now() {
                    debug!(source = name, "scheduled poll skipped: the hub pushes");
                    return Err(Skipped::Gated(Gate::Wait(next)));
                }
            }
        }
        if !lock(&self.running).insert(name.to_string()) {
            return Err(Skipped::AlreadyRunning);
        }
        let _guard = InFlight { runner: self, name };
        let host = source.location.host();
        // The limits are read from the config at each poll, so a reload
        // changes them for the polls that start after it.
        let per_host = lock(&self.hosts)
            .entry(host)
            .or_insert_with(|| Arc::new(Limit::new(config.poll.per_host)))
            .clone();
        let _global = self
            .global
            .acquire(config.poll.concurrency)
            .await
            .ok_or(Skipped::ShuttingDown)?;
        let _host = per_host
            .acquire(config.poll.per_host)
            .await
            .ok_or(Skipped::ShuttingDown)?;
        let started = std::time::Instant::now();
        let report = self.poller.poll(&source, &config.poll).await;
        // Only a fetched document (200 or 304) is a success: not a poll
        // deferred by Retry-After.
        let fetched = !matches!(report.outcome, Outcome::Error | Outcome::Deferred);
        let success = fetched.then(Utc::now);
        self.log.record(&report, Utc::now());
        self.metrics
            .record_poll(name, report.outcome.as_str(), started.elapsed(), report.bytes, success);
        if matches!(report.outcome, Outcome::New | Outcome::Updated) {
            self.changed.notify_one();
        }
        if let Some(sub) = &self.subscriber
            && source.websub
            && report.hub.is_some()
        {
            let (sub, config, source, report) = (sub.clone(), config.clone(), source.clone(), report.clone());
            tokio::spawn(async move { sub.after_poll(&config, &source, &report).await });
        }
        Ok(report)
    }

    /// Polls every source named, as an admin asked (no backoff gate), within
    /// the concurrency and per-host limits; yields each report as its poll
    /// ends.
    pub fn run_each<'a>(&'a self, names: &'a [String]) -> impl futures_util::Stream<Item = PollReport> + 'a {
        use futures_util::StreamExt;
        // A poll's future is large (a fetch, a parse): made a few at a time
        // beyond the limit, not 10,000 at once.
        let ahead = self.config.load().poll.concurrency.saturating_mul(4).max(64);
        futures_util::stream::iter(names)
            .map(move |name| async move {
                self.run(name, Trigger::Admin)
                    .await
                    .unwrap_or_else(|skipped| PollReport::failed(name, &format!("not polled: {skipped:?}")))
            })
            .buffer_unordered(ahead)
    }

    /// Stops starting polls and waits (at most `grace`) for those in flight.
    /// Returns whether they all finished.
    pub async fn drain(&self, grace: Duration) -> bool {
        self.stopping.store(true, Ordering::SeqCst);
        let wait = async {
            loop {
                let idle = self.idle.notified();
                if lock(&self.running).is_empty() {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout(grace, wait).await.is_ok()
    }
}

/// A bound on polls in flight whose size can change while permits are held:
/// a smaller size retires permits as the polls holding them finish.
struct Limit {
    permits: Semaphore,
    sizes: Mutex<Sizes>,
}

#[derive(Debug)]
struct Sizes {
    size: usize,
    /// Permits held by polls that are to be retired when released.
    owed: usize,
}

impl Limit {
    fn new(size: usize) -> Limit {
        let size = size.max(1);
        Limit {
            permits: Semaphore::new(size),
            sizes: Mutex::new(Sizes { size, owed: 0 }),
        }
    }

    /// Waits for a permit, once the limit is `size`. None once closed.
    async fn acquire(&self, size: usize) -> Option<LimitPermit<'_>> {
        self.resize(size);
        let permit = self.permits.acquire().await.ok()?;
        Some(LimitPermit {
            limit: self,
            permit: Some(permit),
        })
    }

    fn resize(&self, to: usize) {
        let to = to.max(1);
        let mut sizes = lock(&self.sizes);
        if to > sizes.size {
            let grow = to - sizes.size;
            let forgiven = grow.min(sizes.owed);
            sizes.owed -= forgiven;
            self.permits.add_permits(grow - forgiven);
        } else if to < sizes.size {
            let shrink = sizes.size - to;
            sizes.owed += shrink - self.permits.forget_permits(shrink);
        }
        sizes.size = to;
    }
}

/// A poll's place within a [`Limit`].
struct LimitPermit<'a> {
    limit: &'a Limit,
    permit: Option<SemaphorePermit<'a>>,
}

impl Drop for LimitPermit<'_> {
    fn drop(&mut self) {
        let mut sizes = lock(&self.limit.sizes);
        if sizes.owed > 0 {
            sizes.owed -= 1;
            if let Some(permit) = self.permit.take() {
                permit.forget();
            }
        }
    }
}

struct InFlight<'a> {
    runner: &'a Runner,
    name: &'a str,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut running = lock(&self.runner.running);
        running.remove(self.name);
        if running.is_empty() {
            self.runner.idle.notify_waiters();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The cron jobs, one per source, rebuilt whole when the config changes.
pub struct Scheduler {
    jobs: JobScheduler,
    ids: Mutex<Vec<Uuid>>,
    runner: Arc<Runner>,
}

impl Scheduler {
    pub async fn start(runner: Arc<Runner>) -> Result<Scheduler, JobSchedulerError> {
        let jobs = JobScheduler::new().await?;
        jobs.start().await?;
        let scheduler = Scheduler {
            jobs,
            ids: Mutex::new(Vec::new()),
            runner,
        };
        scheduler.reschedule().await?;
        Ok(scheduler)
    }

    /// Replaces every job with one per source of the current config.
    pub async fn reschedule(&self) -> Result<(), JobSchedulerError> {
        let old: Vec<Uuid> = std::mem::take(&mut *lock(&self.ids));
        for id in old {
            self.jobs.remove(&id).await?;
        }
        let config = self.runner.config.load_full();
        let mut ids = Vec::with_capacity(config.sources.len());
        let now = Utc::now();
        for source in &config.sources {
            let (runner, name) = (self.runner.clone(), source.name.clone());
            // Each source's ticks come at its own stable offset after the
            // schedule's: 10,000 sources on one cron do not fire at once.
            let offset = spread_offset(&name, tick_window(config.timing_of(source), config.poll.jitter, now));
            let run = move |_id, _lock| {
                let (runner, name) = (runner.clone(), name.clone());
                Box::pin(async move {
                    tokio::time::sleep(offset).await;
                    if let Err(skipped) = runner.run(&name, Trigger::Schedule).await {
                        debug!(source = %name, ?skipped, "no poll");
                    }
                }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
            };
            let job = match config.timing_of(source) {
                Timing::Cron(schedule) => Job::new_async(schedule.as_str(), run)?,
                Timing::Every(every) => Job::new_repeated_async(*every, run)?,
            };
            ids.push(self.jobs.add(job).await?);
        }
        info!(jobs = ids.len(), "schedules set");
        *lock(&self.ids) = ids;
        Ok(())
    }

    /// Polls `names` once, each after its own stable offset within the
    /// jitter window: 50 ms per source, at most `[poll].jitter`.
    pub fn poll_soon(&self, names: Vec<String>) {
        let window = startup_window(self.runner.config.load().poll.jitter, names.len());
        for name in names {
            let runner = self.runner.clone();
            tokio::spawn(async move {
                tokio::time::sleep(spread_offset(&name, window)).await;
                match runner.run(&name, Trigger::Startup).await {
                    Ok(_) | Err(Skipped::ShuttingDown) | Err(Skipped::UnknownSource) | Err(Skipped::Paused) => {}
                    Err(Skipped::Gated(gate)) => debug!(source = %name, ?gate, "startup poll waits"),
                    Err(skipped) => warn!(source = %name, ?skipped, "startup poll skipped"),
                }
            });
        }
    }

    pub async fn shutdown(&self) {
        if let Err(e) = self.jobs.clone().shutdown().await {
            warn!(error = %e, "stopping the scheduler");
        }
    }
}

/// What starts polls on time: cron jobs in this process (sled: one
/// instance), or the schedule several instances share on PostgreSQL.
pub enum Schedules {
    Local(Scheduler),
    Shared(Arc<Leased>),
}

impl Schedules {
    /// Follows the current config.
    pub async fn reschedule(&self) {
        match self {
            Schedules::Local(s) => {
                if let Err(e) = s.reschedule().await {
                    warn!(error = %e, "rescheduling after reload");
                }
            }
            Schedules::Shared(l) => l.sync().await,
        }
    }

    /// Polls these sources soon (new, or moved to another location).
    pub async fn poll_soon(&self, names: Vec<String>) {
        match self {
            Schedules::Local(s) => s.poll_soon(names),
            Schedules::Shared(l) => l.due_now(names).await,
        }
    }

    pub async fn shutdown(&self) {
        match self {
            Schedules::Local(s) => s.shutdown().await,
            Schedules::Shared(l) => l.stop(),
        }
    }
}

/// The schedule pollers share on PostgreSQL: each source's next due time
/// and lease are rows of `thau_sources`. Every [`CLAIM_EVERY`] this instance
/// claims due sources (as many as it has free poll slots, within `per_host`
/// across instances), polls them through the [`Runner`] (its politeness gate
/// included), and sets each one's next due time: the next tick of its
/// schedule, at its own stable offset within `jitter`, as every instance
/// computes it. The lease (`[store] lease`) bounds how long a killed
/// instance's sources wait before another poller takes them over.
pub struct Leased {
    runner: Arc<Runner>,
    store: Arc<crate::store::Store>,
    pg: Arc<crate::store::Pg>,
    lease: Duration,
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
    /// The config the shared schedule was last made from.
    synced: Mutex<Option<Arc<Config>>>,
    stopping: AtomicBool,
    /// Told when a poll ends: its slot can take another due source.
    freed: Notify,
}

/// How often a poller looks for due sources.
pub const CLAIM_EVERY: Duration = Duration::from_millis(200);
/// How long a poller waits after a claim failed (the database is away).
const CLAIM_RETRY: Duration = Duration::from_secs(2);

impl Leased {
    /// None unless `store` is on PostgreSQL.
    pub fn new(runner: Arc<Runner>, store: Arc<crate::store::Store>, lease: Duration) -> Option<Leased> {
        let pg = store.shared()?;
        Some(Leased {
            runner,
            store,
            pg,
            lease,
            in_flight: Arc::default(),
            synced: Mutex::new(None),
            stopping: AtomicBool::new(false),
            freed: Notify::new(),
        })
    }

    /// Makes the shared schedule hold the sources of the current config
    /// (enabled ones): a new source is due at once (spread over the startup
    /// window), one whose timing changed at its next tick.
    pub async fn sync(&self) {
        let config = self.runner.config.load_full();
        let now = Utc::now();
        let sources: Vec<_> = config.sources.iter().filter(|s| s.enabled).collect();
        let window = startup_window(config.poll.jitter, sources.len());
        let rows = sources
            .iter()
            .map(|s| {
                let first = now + chrono::Duration::from_std(spread_offset(&s.name, window)).unwrap_or_default();
                (
                    s.name.clone(),
                    s.location.host(),
                    config.timing_of(s).to_string(),
                    first.timestamp_millis(),
                )
            })
            .collect();
        let pg = self.pg.clone();
        match tokio::task::spawn_blocking(move || pg.sync_sources(rows)).await {
            Ok(Ok(())) => {
                info!(sources = sources.len(), "shared schedule set");
                *lock(&self.synced) = Some(config);
            }
            Ok(Err(e)) => warn!(error = %e, "setting the shared schedule failed; retrying"),
            Err(e) => warn!(error = %e, "setting the shared schedule failed; retrying"),
        }
    }

    /// Makes these sources due now.
    pub async fn due_now(&self, names: Vec<String>) {
        let pg = self.pg.clone();
        let now = Utc::now().timestamp_millis();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || pg.due_now(&names, now)).await {
            warn!(error = %e, "could not make sources due");
        }
    }

    /// Stops claiming (the leases go back with [`Leased::release`], once
    /// the polls in flight are over).
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Claims and polls until stopped.
    pub async fn run(self: Arc<Self>) {
        let owner = self.pg.instance.clone();
        let mut tick = tokio::time::interval(CLAIM_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut more, mut failing) = (false, false);
        while !self.stopping.load(Ordering::SeqCst) {
            if !more {
                // At the next tick, or soon after a slot frees up (a few
                // more may free meanwhile: one claim for them all).
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = self.freed.notified() => tokio::time::sleep(CLAIM_EVERY / 10).await,
                }
            }
            more = false;
            let config = self.runner.config.load_full();
            if lock(&self.synced).as_ref().is_none_or(|c| !Arc::ptr_eq(c, &config)) {
                self.sync().await;
                continue;
            }
            let free = config
                .poll
                .concurrency
                .saturating_sub(self.in_flight.load(Ordering::SeqCst));
            if free == 0 {
                continue;
            }
            let (pg, owner_, lease) = (self.pg.clone(), owner.clone(), self.lease.as_millis() as i64);
            let per_host = config.poll.per_host as i64;
            let claimed = tokio::task::spawn_blocking(move || {
                pg.claim(&owner_, Utc::now().timestamp_millis(), lease, free as i64, per_host)
            })
            .await;
            let claimed = match claimed {
                Ok(result) => self.store.wrote(result),
                Err(_) => continue,
            };
            let claimed = match claimed {
                Ok(claimed) => {
                    if failing {
                        info!("claiming due sources works again");
                        failing = false;
                    }
                    claimed
                }
                Err(e) => {
                    // Said once per outage (the store's health says the
                    // rest), and tried again every few seconds.
                    if !failing {
                        warn!(error = %e, "claiming due sources failed; retrying every {}s", CLAIM_RETRY.as_secs());
                        failing = true;
                    }
                    tokio::time::sleep(CLAIM_RETRY).await;
                    continue;
                }
            };
            // As many as asked: more may be due.
            more = claimed.len() == free;
            for (name, _due) in claimed {
                self.in_flight.fetch_add(1, Ordering::SeqCst);
                let this = self.clone();
                let owner = owner.clone();
                tokio::spawn(async move {
                    // A long poll (full text, a slow origin) keeps its lease:
                    // renewed every third of it while the poll runs.
                    let ran = {
                        let poll = this.runner.run(&name, Trigger::Schedule);
                        tokio::pin!(poll);
                        loop {
                            tokio::select! {
                                ran = &mut poll => break ran,
                                _ = tokio::time::sleep(this.lease / 3) => this.renew(&owner, &name).await,
                            }
                        }
                    };
                    if let Err(skipped) = ran {
                        debug!(source = %name, ?skipped, "no poll");
                        // This instance claimed again a source whose poll it
                        // is still running (its lease could not be renewed):
                        // that poll ends the lease, not this claim.
                        if skipped == Skipped::AlreadyRunning {
                            this.in_flight.fetch_sub(1, Ordering::SeqCst);
                            this.freed.notify_one();
                            return;
                        }
                    }
                    let config = this.runner.config.load_full();
                    let next = config
                        .source(&name)
                        .map_or(Utc::now() + chrono::Duration::hours(1), |s| {
                            next_due(&config, s, Utc::now())
                        });
                    let pg = this.pg.clone();
                    let finished = tokio::task::spawn_blocking(move || {
                        pg.finish(&owner, &name, next.timestamp_millis())
                            .map(|held| (name, held))
                    })
                    .await;
                    match finished {
                        Ok(Ok((name, false))) => {
                            warn!(source = %name, "the lease ran out during the poll; another poller took the source")
                        }
                        Ok(Err(e)) => warn!(error = %e, "recording the next poll failed; the lease will expire"),
                        _ => {}
                    }
                    this.in_flight.fetch_sub(1, Ordering::SeqCst);
                    this.freed.notify_one();
                });
            }
        }
    }

    /// Extends the lease of a poll still running.
    async fn renew(&self, owner: &str, name: &str) {
        let (pg, o, n) = (self.pg.clone(), owner.to_string(), name.to_string());
        let until = Utc::now() + chrono::Duration::from_std(self.lease).unwrap_or_default();
        let renewed = tokio::task::spawn_blocking(move || pg.renew(&o, &n, until.timestamp_millis())).await;
        if !matches!(renewed, Ok(Ok(true))) {
            warn!(source = %name, "could not renew the lease of a running poll: another poller may take it");
        }
    }

    /// After shutdown: the leases of this instance go back at once.
    pub fn release(&self) {
        if let Err(e) = self.pg.release(&self.pg.instance) {
            warn!(error = %e, "giving back leases failed; they will expire");
        }
    }
}

/// When a source polled at `now` is due next: its schedule's next tick
/// after `now`, at the source's stable offset within the jitter window.
pub fn next_due(config: &Config, source: &crate::config::Source, now: DateTime<Utc>) -> DateTime<Utc> {
    let timing = config.timing_of(source);
    let offset = chrono::Duration::from_std(spread_offset(
        &source.name,
        tick_window(timing, config.poll.jitter, now),
    ))
    .unwrap_or_default();
    crate::schedule::shared_tick(timing, now - offset).map_or(now + chrono::Duration::hours(1), |t| t + offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_limit_grows_at_once_and_shrinks_as_permits_come_back() {
        let limit = Limit::new(3);
        let held = vec![
            limit.acquire(3).await.unwrap(),
            limit.acquire(3).await.unwrap(),
            limit.acquire(3).await.unwrap(),
        ];
        limit.resize(1);
        assert_eq!(limit.permits.available_permits(), 0);
        drop(held);
        // Two of the three released permits were retired.
        assert_eq!(limit.permits.available_permits(), 1);
        let one = limit.acquire(1).await.unwrap();
        assert!(limit.permits.try_acquire().is_err(), "one poll at a time now");
        drop(one);
        limit.resize(4);
        assert_eq!(limit.permits.available_permits(), 4);

        // Shrunk, then grown back before the polls finished: nothing is owed.
        let held = vec![limit.acquire(4).await.unwrap(), limit.acquire(4).await.unwrap()];
        limit.resize(1);
        limit.resize(3);
        assert_eq!(limit.permits.available_permits(), 1);
        drop(held);
        assert_eq!(limit.permits.available_permits(), 3);
    }
}
