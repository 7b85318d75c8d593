//! What the daemon runs beside serving: pruning, trimming the shared log,
//! reopening a store that failed, admin polls, reloading `feeds.toml`
//! when it changes, and saying what each round of polls did.

use super::*;
use crate::scheduler::PollLog;

/// Where `thau serve` says what it does, one line per event an admin
/// follows (a round of polls, a reload, the stop): shown by default, apart
/// from thau's other logs.
pub const ACTIVITY: &str = "thau::activity";

/// A round of polls ends when none has ended for this long…
const ROUND_QUIET: Duration = Duration::from_secs(2);
/// …or this long after its first poll ended, whichever comes first.
const ROUND_LONGEST: Duration = Duration::from_secs(60);

/// Says what each round of polls did, in one line: `12 sources polled: 3
/// new stories, 1 error (courrier: HTTP 503)`. A round is the polls that
/// end together (a schedule fires many sources at once).
pub(super) async fn announce_rounds(log: Arc<PollLog>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = log.polled() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        let ends = tokio::time::Instant::now() + ROUND_LONGEST;
        loop {
            let quiet = tokio::time::sleep_until((tokio::time::Instant::now() + ROUND_QUIET).min(ends));
            tokio::select! {
                _ = log.polled() => {}
                _ = quiet => break,
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        if let Some(line) = log.take_round().line() {
            info!(target: ACTIVITY, "{line}");
        }
        if *stop.borrow() {
            break;
        }
    }
}

/// Applies the retention limits a minute after start, then hourly.
pub(super) async fn prune_periodically(state: Arc<AppState>, changed: Arc<Notify>, mut stop: watch::Receiver<bool>) {
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
pub(super) async fn trim_log_periodically(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
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
pub(super) async fn recover_store(state: Arc<AppState>, changed: Arc<Notify>, mut stop: watch::Receiver<bool>) {
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
pub(super) async fn answer_admin(runner: Arc<Runner>, mut requests: mpsc::Receiver<AdminRequest>) {
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
pub(super) async fn watch_config(
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
    info!(target: ACTIVITY, "feeds.toml reloaded: {}", diff.summary());
    if old.server.listen != new.server.listen || old.store.path != new.store.path {
        warn!("[server].listen and [store].path take effect at the next restart");
    }
    state.polls.retain(|name| new.source(name).is_some());
    state.store.set_near_duplicates(new.near_duplicates);
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
    /// Stories hidden, and shown again.
    pub hidden: usize,
    pub unhidden: usize,
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
        let named = |c: &Config, story: &str| c.hidden.iter().any(|h| h.story == story);
        diff.hidden = new.hidden.iter().filter(|h| !named(old, &h.story)).count();
        diff.unhidden = old.hidden.iter().filter(|h| !named(new, &h.story)).count();
        diff
    }

    /// `1 source added (mairie), 1 changed (courrier); sections changed`.
    pub fn summary(&self) -> String {
        let mut said: Vec<String> = [
            ("added", &self.added),
            ("removed", &self.removed),
            ("changed", &self.changed),
        ]
        .into_iter()
        .filter(|(_, names)| !names.is_empty())
        .map(|(what, names)| {
            let sources = if names.len() == 1 { "source" } else { "sources" };
            let mut shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
            let more = format!("{} more", names.len().saturating_sub(5));
            if names.len() > 5 {
                shown.push(&more);
            }
            format!("{} {sources} {what} ({})", names.len(), shown.join(", "))
        })
        .collect();
        if self.sections_changed {
            said.push("sections changed".into());
        }
        for (n, what) in [(self.hidden, "hidden"), (self.unhidden, "shown again")] {
            if n > 0 {
                said.push(format!("{n} {} {what}", if n == 1 { "story" } else { "stories" }));
            }
        }
        match said.is_empty() {
            true => "other settings changed".into(),
            false => said.join(", "),
        }
    }
}
