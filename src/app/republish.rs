//! The publisher: after each change, the selection brought up to date (from
//! the store's log, or a scan), digests and archive pages written, and the
//! site rendered, each changed section served as soon as it is ready;
//! then WebSub pushes and the `[export] dir` copy.

use super::*;

/// The selection, with the configuration and the store generation it was
/// made for.
type Current = (Arc<Config>, u64, Selection);

/// Keeps the site up to date: renders it once from a full scan of the
/// store, then after each change applies what the writes did to the
/// selection and renders only the sections that show something else
/// (coalescing bursts: one pass covers every write made before it). A new
/// configuration, or a store that was reopened, starts from a full scan.
/// On PostgreSQL the writes of every instance come from the store's log,
/// in the order they committed, so publishers scan only at start.
pub(super) async fn republish(
    state: Arc<AppState>,
    bound: SocketAddr,
    changed: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
    polls: bool,
) {
    if polls {
        wait_for_first_polls(&state, &mut stop).await;
    }
    let mut current: Option<Current> = None;
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
        let previous = state.site.load_full();
        let pass = Pass {
            state: state.clone(),
            config: config.clone(),
            base_url: config.server.base_url(bound),
            previous: previous.clone(),
            rescan,
        };
        let taken = current.take();
        match tokio::task::spawn_blocking(move || pass.run(taken)).await {
            Ok(Ok((selection, site, more))) => {
                if more {
                    // Archive pages remain to be written: another round soon.
                    changed.notify_one();
                }
                published(&state, &config, &previous, site).await;
                current = Some((config, generation, selection));
            }
            // Again soon, from a full scan (a store that failed once,
            // PostgreSQL restarting say, may work in a moment: not only
            // at the next change, which may never come).
            Ok(Err(e)) => warn!(error = %e, "republishing failed; serving the previous version, retrying"),
            Err(e) => warn!(error = %e, "republishing failed; serving the previous version, retrying"),
        }
        if !wait_for_next(&state, &current, &changed, &mut stop).await {
            return;
        }
    }
}

/// How long a new desk's first rendering waits for its first polls.
const FIRST_POLLS_WAIT: Duration = Duration::from_secs(5);

/// A new desk's first look: on an empty store, the first rendering waits
/// for the startup polls (at most [`FIRST_POLLS_WAIT`]; pages say "starting"
/// meanwhile), so the pages opened right after `thau serve` show the
/// stories rather than an empty site. A store that holds stories is
/// served at once, as it is.
async fn wait_for_first_polls(state: &AppState, stop: &mut watch::Receiver<bool>) {
    let polled = state.config.load().sources.iter().filter(|s| s.enabled).count();
    let store = state.store.clone();
    let empty = tokio::task::spawn_blocking(move || store.recent().next().is_none())
        .await
        .unwrap_or(false);
    if polled == 0 || !empty {
        return;
    }
    tokio::select! {
        _ = state.polls.recorded(polled) => {}
        _ = tokio::time::sleep(FIRST_POLLS_WAIT) => {
            tracing::debug!("first polls still running: rendering what is stored");
        }
        _ = stop.wait_for(|s| *s) => {}
    }
}

/// One publishing pass, run on a blocking thread.
struct Pass {
    state: Arc<AppState>,
    config: Arc<Config>,
    base_url: String,
    /// The site the pass started from.
    previous: Arc<Site>,
    rescan: bool,
}

impl Pass {
    /// The selection brought up to date, what is due written, the site
    /// rendered (each changed section served as soon as it is ready); and
    /// whether archive pages remain to be written.
    fn run(self, taken: Option<Current>) -> Result<(Selection, Site, bool), StoreError> {
        let (store, config) = (&self.state.store, &self.config);
        let started = std::time::Instant::now();
        let (mut selection, dirty) = self.select(taken)?;
        let selected_ms = started.elapsed().as_millis() as u64;
        let now = Utc::now();
        // Digests and archive pages are written by one publisher (always,
        // on sled); the others render what it wrote, which it tells them of.
        let writes = store.leads(crate::store::Duty::Archive);
        let frozen = match writes {
            true => crate::digest::freeze_due(store, config, &selection, now)?,
            false => Vec::new(),
        };
        // Not before the first rendering (readers wait for it): in the
        // round right after.
        let archived = if dirty.is_some() && writes {
            crate::archive::archive_due(store, config, &mut selection, now)?
        } else {
            crate::archive::Archived {
                sections: Vec::new(),
                more: writes,
            }
        };
        let dirty = dirty.map(|mut d| {
            for (i, d) in d.iter_mut().enumerate() {
                *d |= frozen.get(i).is_some_and(|f| *f)
                    || archived.sections.get(i).is_some_and(|a| *a)
                    || (i < selection.picks.len() && selection.has_pins(i));
            }
            d
        });
        let previous = self.previous.ready.then_some(self.previous.as_ref());
        // Each section that changed is served as soon as it is rendered: a
        // long one does not hold up the others.
        let early = |site: Site| self.state.site.store(Arc::new(site));
        let site = Site::build_progressively(
            store,
            config,
            &selection,
            &self.base_url,
            previous,
            dirty.as_deref(),
            now,
            &early,
        )?;
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            selected_ms,
            rescan = self.rescan,
            "site republished"
        );
        Ok((selection, site, archived.more))
    }

    /// The selection now, and which sections show something else than in
    /// the one it was made from (None: render everything).
    fn select(&self, taken: Option<Current>) -> Result<(Selection, Option<Vec<bool>>), StoreError> {
        let (store, config) = (&self.state.store, &self.config);
        let scan = || store.while_quiet(|view| Selection::scan(view, config));
        // What a selection made from a new scan shows differently.
        let against = |before: &Selection, fresh: &Selection| {
            let mut dirty = fresh.changed_since(before);
            // (A digest frozen elsewhere is not in the selection.)
            for (d, section) in dirty.iter_mut().zip(&config.sections) {
                *d |= section.digest.is_some();
            }
            dirty
        };
        Ok(match taken {
            Some((_, _, mut selection)) if !self.rescan => store.follow(|view, news| {
                if news.rescan {
                    let fresh = Selection::scan(view, config)?;
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
            // The store was reopened, or the archive taken over: scan
            // again, render only the sections that differ.
            Some((before_config, _, before)) if Arc::ptr_eq(&before_config, config) => {
                let fresh = scan()?;
                let dirty = against(&before, &fresh);
                (fresh, Some(dirty))
            }
            _ => (scan()?, None),
        })
    }
}

/// A pass's site served, pushed to WebSub subscribers (against the site
/// the pass started from: sections served early are pushed with the
/// rest) and copied to `[export] dir`.
async fn published(state: &Arc<AppState>, config: &Arc<Config>, previous: &Site, site: Site) {
    state.metrics.record_entries(site.per_source.iter(), site.total_entries);
    let site = Arc::new(site);
    state.site.store(site.clone());
    // (On PostgreSQL one publisher pushes for all.)
    if state.store.leads(crate::store::Duty::Push)
        && let Err(e) = state.hub.publish(config, previous, &site)
    {
        warn!(error = %e, "websub: reading subscriptions failed; nothing pushed");
    }
    if let Some(dir) = config.export_dir.clone() {
        // The daemon holds the store, so `thau export` cannot run beside
        // it: it writes the static site itself.
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
}

/// Waits for the next pass: a change, a digest's period ending, or, after
/// a failed pass (or a reopened store), a moment. False when stopping.
async fn wait_for_next(
    state: &AppState,
    current: &Option<Current>,
    changed: &Notify,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    // A digest is due when its period ends, poll or no poll; a pin ends
    // when it ends.
    let now = Utc::now();
    let unpin = current.as_ref().and_then(|(_, _, selection)| selection.next_unpin(now));
    let digest_due = crate::digest::next_due(&state.config.load(), now)
        .into_iter()
        .chain(unpin)
        .min()
        .and_then(|t| (t - now).to_std().ok())
        .map(|wait| wait + Duration::from_secs(1));
    if current.is_none() || current.as_ref().is_some_and(|(_, g, _)| *g != state.store.generation()) {
        return tokio::select! {
            _ = tokio::time::sleep(RETRY_GAP) => true,
            _ = stop.wait_for(|s| *s) => false,
        };
    }
    tokio::select! {
        _ = changed.notified() => true,
        _ = async {
            match digest_due {
                Some(wait) => tokio::time::sleep(wait).await,
                None => std::future::pending().await,
            }
        } => true,
        _ = stop.wait_for(|s| *s) => false,
    }
}
