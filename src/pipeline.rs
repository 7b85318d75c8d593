//! Polls sources: fetch → normalize → store, one source at a time per
//! source, many sources at once. A failing source is recorded in its fetch
//! state and never touches stored entries or other sources. Wires together
//! `fetch`, `normalize` and `store`.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tracing::{Instrument, info, info_span, warn};
use url::Url;

use crate::config::{Location, PollConfig, Source};
use crate::fetch::{Document, FetchError, Fetched, Fetcher, Limits, Validators};
use crate::model::{FetchState, Outcome};
use crate::normalize::{self, DocContext};
use crate::store::{Counts, Listed, Store};

/// What one poll of one source did, for the command line, the logs and
/// the admin API.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PollReport {
    pub source: String,
    pub outcome: Outcome,
    pub counts: Counts,
    /// Entries in the document (0 when nothing was parsed).
    pub in_feed: u32,
    pub error: Option<String>,
    /// Where the source moved for good, for the admin to update `feeds.toml`.
    pub moved_to: Option<String>,
    /// When the origin asked us to come back (429/503 `Retry-After`).
    pub retry_after: Option<DateTime<Utc>>,
    /// Size of the document fetched (0 for a 304 or a failure).
    pub bytes: u64,
    /// Older entries of the document not taken (past `max_entries_per_poll`).
    pub skipped: u32,
    /// The WebSub hub the document named, and its topic (`rel="self"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// New entries that are only a teaser (key, link): with `full_text`,
    /// their articles are fetched after the poll.
    #[serde(skip)]
    pub teasers: Vec<(String, Url)>,
    /// Articles extracted for them.
    #[serde(skip_serializing_if = "is_zero")]
    pub full_texts: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl PollReport {
    fn new(source: &str, outcome: Outcome) -> PollReport {
        PollReport {
            source: source.to_string(),
            outcome,
            counts: Counts::default(),
            in_feed: 0,
            error: None,
            moved_to: None,
            retry_after: None,
            bytes: 0,
            skipped: 0,
            hub: None,
            topic: None,
            teasers: Vec::new(),
            full_texts: 0,
        }
    }

    /// A poll that failed without recording it in the fetch state.
    pub fn failed(source: &str, error: &dyn std::fmt::Display) -> PollReport {
        let mut report = PollReport::new(source, Outcome::Error);
        report.error = Some(error.to_string());
        report
    }

    /// One line of detail after the outcome word.
    pub fn detail(&self) -> String {
        let mut s = match self.outcome {
            Outcome::Error => self.error.clone().unwrap_or_default(),
            Outcome::NotModified => "not modified since last poll".to_string(),
            Outcome::Deferred => match self.retry_after {
                Some(t) => format!("origin asked to wait until {}", t.to_rfc3339()),
                None => "origin asked to wait".to_string(),
            },
            _ => format!(
                "{} new, {} updated, {} unchanged ({} in feed)",
                self.counts.new, self.counts.updated, self.counts.unchanged, self.in_feed
            ),
        };
        if self.skipped > 0 {
            s.push_str(&format!(
                "; the {} oldest not taken (max_entries_per_poll)",
                self.skipped
            ));
        }
        if let Some(to) = &self.moved_to {
            s.push_str(&format!("; moved permanently to {to} (update feeds.toml)"));
        }
        s
    }
}

#[derive(Clone)]
pub struct Poller {
    store: Arc<Store>,
    fetcher: Fetcher,
}

impl Poller {
    pub fn new(store: Arc<Store>, outbound: crate::outbound::Outbound) -> Poller {
        Poller {
            store,
            fetcher: Fetcher::new(outbound),
        }
    }

    pub fn fetch_state(&self, source: &str) -> Option<FetchState> {
        self.store.fetch_state(source).ok().flatten()
    }

    /// Polls `source` once, within `limits`' timeout and body cap.
    pub async fn poll(&self, source: &Source, limits: &PollConfig) -> PollReport {
        let span = info_span!("poll", source = %source.name, url = %source.location);
        let report = self.poll_inner(source, limits).instrument(span.clone()).await;
        let _enter = span.enter();
        match report.outcome {
            Outcome::Error => warn!(
                source = %source.name,
                error = report.error.as_deref().unwrap_or(""),
                "poll failed"
            ),
            outcome => info!(
                outcome = outcome.as_str(),
                new = report.counts.new,
                updated = report.counts.updated,
                "polled"
            ),
        }
        report
    }

    async fn poll_inner(&self, source: &Source, limits: &PollConfig) -> PollReport {
        let name = source.name.as_str();
        let now = Utc::now();
        let mut state = match self.state_for_poll(source, now) {
            Ok(state) => state,
            Err(report) => return *report,
        };
        state.polls += 1;
        state.last_poll = Some(now);
        let validators = Validators {
            etag: state.etag.clone(),
            last_modified: state.last_modified.clone(),
        };

        // A source that moved for good is polled where it went, and the move
        // is reported until the admin updates feeds.toml.
        let target = match (&source.location, state.permanent_redirect.as_deref().map(Url::parse)) {
            (Location::Url(_), Some(Ok(moved))) => Location::Url(moved),
            _ => source.location.clone(),
        };
        let output = match self
            .fetcher
            .fetch(&target, &validators, Limits::for_source(limits, source))
            .await
        {
            Ok(output) => output,
            Err(e) => return self.record_failure(name, state, &e),
        };
        if let Some(moved) = output.permanent_redirect {
            state.permanent_redirect = Some(moved.into());
        }
        state.fresh_until = output.fresh_until;
        let moved_to = state
            .permanent_redirect
            .as_deref()
            .map(|to| crate::redact::redacted_str(to).into_owned());
        let mut report = match output.fetched {
            Fetched::NotModified => {
                state.not_modified += 1;
                mark_success(&mut state, now);
                state.last_outcome = Some(Outcome::NotModified);
                match self.store.save_fetch_state(name, &state) {
                    Ok(()) => PollReport::new(name, Outcome::NotModified),
                    Err(e) => PollReport::failed(name, &e),
                }
            }
            Fetched::Document(doc) => self.ingest_document(source, limits, doc, state, now).await,
        };
        report.moved_to = moved_to;
        report
    }

    /// The fetch state a poll of `source` starts from: the last poll's,
    /// forgotten where it no longer applies (a new URL, a new timezone).
    /// `Err` when the poll is not to happen (the store cannot be read, or
    /// the origin asked to wait).
    fn state_for_poll(&self, source: &Source, now: DateTime<Utc>) -> Result<FetchState, Box<PollReport>> {
        let name = source.name.as_str();
        let mut state = match self.store.fetch_state(name) {
            Ok(state) => state.unwrap_or_default(),
            Err(e) => return Err(Box::new(PollReport::failed(name, &e))),
        };
        let location = source.location.as_key();
        if state.location != location {
            // A new URL: the old validators and verdicts do not apply to it.
            state = FetchState {
                location,
                ..FetchState::default()
            };
        }
        let timezone = source.timezone.map(|tz| tz.name().to_owned());
        if state.timezone != timezone {
            // Dates are read differently now: read the document again, even
            // unchanged (its entries are then re-dated in place).
            (state.etag, state.last_modified, state.timezone) = (None, None, timezone);
        }
        if let Some(until) = state.retry_after.filter(|t| *t > now) {
            let mut report = PollReport::new(name, Outcome::Deferred);
            report.retry_after = Some(until);
            return Err(Box::new(report));
        }
        Ok(state)
    }

    /// Parses, normalizes and stores a fetched document (off the async
    /// threads), durable before it returns; then the full texts of its new
    /// teasers.
    async fn ingest_document(
        &self,
        source: &Source,
        limits: &PollConfig,
        mut doc: Document,
        state: FetchState,
        now: DateTime<Utc>,
    ) -> PollReport {
        let name = source.name.as_str();
        let bytes = doc.body.len() as u64;
        // Scraping parses a whole page: like every parse, off the
        // async threads (which serve and schedule).
        let scrape = source
            .scrape
            .clone()
            .map(|rules| (rules, source.encoding, source.timezone));
        if scrape.is_some() {
            // The page is decoded there (in `encoding` if given).
        } else if let Some(encoding) = source.encoding {
            // `encoding` wins over what the document or the server says
            // (and over any guess): the bytes are decoded here, once.
            doc.body = normalize::transcode_from(&doc.body, encoding);
            let media = doc
                .content_type
                .as_deref()
                .and_then(|c| c.split(';').next())
                .unwrap_or("application/xml");
            doc.content_type = Some(format!("{}; charset=utf-8", media.trim()));
        }
        let store = self.store.clone();
        let owned = name.to_string();
        let options = IngestOptions::of(source, limits);
        let work = move || {
            if let Some((rules, encoding, zone)) = scrape {
                scrape_page(&mut doc, &rules, encoding, zone);
            }
            ingest(&store, &owned, &options, doc, state, now)
        };
        match tokio::task::spawn_blocking(work).await {
            // Done once durable: a crash before this point loses the
            // whole poll (to be redone), never part of it.
            Ok(report) if report.outcome != Outcome::Error => match self.store.flush_async().await {
                Ok(()) => {
                    let mut report = PollReport { bytes, ..report };
                    if source.full_text && !report.teasers.is_empty() {
                        report.full_texts = self.full_texts(source, limits, &report.teasers).await;
                    }
                    report
                }
                Err(e) => PollReport::failed(name, &e),
            },
            Ok(report) => PollReport { bytes, ..report },
            Err(e) => PollReport::failed(name, &e),
        }
    }

    /// `full_text`: fetches each new teaser's page (at most
    /// [`FULL_TEXTS_PER_POLL`], one at a time, with the poll's timeout and
    /// body cap, without the source's credentials), extracts its article,
    /// sanitizes it and stores it as the entry's content. A page that
    /// fails keeps the teaser and is counted in the fetch state. Each
    /// entry is tried once: only new entries are.
    async fn full_texts(&self, source: &Source, limits: &PollConfig, teasers: &[(String, Url)]) -> u32 {
        let mut done = 0;
        let mut failures: Vec<String> = Vec::new();
        for (key, link) in teasers.iter().take(FULL_TEXTS_PER_POLL) {
            let fetched = self
                .fetcher
                .fetch(
                    &Location::Url(link.clone()),
                    &Validators::default(),
                    Limits {
                        // Where the feed points is not where the admin
                        // pointed: public addresses only, or the source's
                        // own origin when the admin put it on an internal one.
                        reach: crate::outbound::Reach::Found {
                            within: source.location.url().cloned(),
                        },
                        ..Limits::plain(limits.timeout, limits.max_body, limits.internal_networks.clone())
                    },
                )
                .await;
            let page = match fetched.map(|out| out.fetched) {
                Ok(Fetched::Document(doc)) => doc,
                Ok(Fetched::NotModified) => continue,
                Err(e) => {
                    failures.push(format!("{}: {e}", crate::redact::redacted(link)));
                    continue;
                }
            };
            let at = page.url.clone().unwrap_or_else(|| link.clone());
            let max_text = limits.max_entry_size;
            let (selector, rewrites) = (source.full_text_selector.clone(), source.rewrites.clone());
            let extracted = tokio::task::spawn_blocking(move || {
                extract_article(&page.body, &at, max_text, selector.as_deref(), &rewrites)
            })
            .await;
            match extracted {
                Ok(Ok(html)) => match self.store.set_full_text(key, &source.name, html) {
                    Ok(true) => done += 1,
                    Ok(false) => {}
                    Err(e) => failures.push(e.to_string()),
                },
                Ok(Err(why)) => failures.push(format!("{}: {why}", crate::redact::redacted(link))),
                Err(e) => failures.push(e.to_string()),
            }
        }
        if !failures.is_empty()
            && let Ok(Some(mut state)) = self.store.fetch_state(&source.name)
        {
            state.full_text_failures += failures.len() as u64;
            state.last_full_text_error = failures.pop();
            let _ = self.store.save_fetch_state(&source.name, &state);
        }
        if done > 0 || !failures.is_empty() {
            let _ = self.store.flush_async().await;
        }
        done
    }

    fn record_failure(&self, name: &str, mut state: FetchState, error: &FetchError) -> PollReport {
        state.retry_after = error.retry_after();
        state.gone = matches!(error, FetchError::Gone);
        let mut report = record_error(&self.store, name, state, &error.to_string());
        report.retry_after = error.retry_after();
        report
    }
}

/// A page read with the source's selectors becomes the RSS document the
/// rest of the poll reads.
pub fn scrape_page(
    doc: &mut crate::fetch::Document,
    rules: &crate::scrape::Rules,
    encoding: Option<&'static encoding_rs::Encoding>,
    zone: Option<Tz>,
) -> Vec<crate::scrape::Story> {
    let declared = doc
        .content_type
        .as_deref()
        .and_then(|ct| ct.split(';').find_map(|p| p.trim().strip_prefix("charset=")))
        .and_then(|label| encoding_rs::Encoding::for_label(label.trim_matches('"').as_bytes()));
    let (html, _, _) = encoding.or(declared).unwrap_or(encoding_rs::UTF_8).decode(&doc.body);
    let (title, stories) = crate::scrape::extract(&html, doc.url.as_ref(), rules, zone);
    doc.body = crate::scrape::to_rss(title.as_deref(), doc.url.as_ref(), &stories);
    doc.content_type = Some("application/rss+xml; charset=utf-8".into());
    stories
}

/// Articles fetched for one poll's new teasers at most (the rest keep
/// their teaser).
const FULL_TEXTS_PER_POLL: usize = 20;

/// The article of a web page (readability), sanitized as feed content is.
/// With the source's `full_text_selector`, the element it names instead;
/// the source's `remove` selectors and content rules apply to it either way.
pub fn extract_article(
    body: &[u8],
    url: &Url,
    max_text: usize,
    selector: Option<&str>,
    rewrites: &crate::rewrite::Rewrites,
) -> Result<String, String> {
    let html = String::from_utf8_lossy(body);
    // Bounded as feed content is, before any HTML parser sees it.
    let html = crate::normalize::nesting::bound(&html);
    let article = match selector {
        Some(selector) => {
            let doc = dom_query::Document::from(html.as_ref());
            let found = doc.select(selector);
            if !found.exists() {
                return Err(format!("full_text_selector \"{selector}\" matched nothing"));
            }
            found.html().to_string()
        }
        None => {
            let mut readability =
                dom_smoothie::Readability::new(html.as_ref(), Some(url.as_str()), None).map_err(|e| e.to_string())?;
            readability
                .parse()
                .map_err(|e| format!("no article found ({e})"))?
                .content
                .to_string()
        }
    };
    let article = rewrites
        .raw_html(crate::rewrite::Field::Content, &article)
        .unwrap_or(article);
    let mut clean = crate::normalize::sanitize_capped(&article, Some(url), max_text);
    crate::normalize::xml_safe(&mut clean);
    if crate::normalize::html_to_text(&clean).trim().is_empty() {
        return Err("no article found".into());
    }
    Ok(clean)
}

/// How a source's documents are read.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Where the publisher is (dates without a zone).
    pub timezone: Option<Tz>,
    /// The most entries taken from one document (its newest).
    pub max_entries: usize,
    /// The source's `title` in feeds.toml: how readers see it named,
    /// instead of its feed's own title.
    pub title: Option<String>,
    /// Its `include`/`exclude`: what is not stored.
    pub filter: crate::filter::Filter,
    /// Its `id`: what identifies an entry.
    pub id_from: crate::normalize::IdFrom,
    /// Its `full_text`: report new teasers.
    pub full_text: bool,
    /// `[poll] max_entry_size`: the most of an entry's text kept.
    pub max_text: usize,
    /// Its rewrite rules.
    pub rewrites: crate::rewrite::Rewrites,
}

impl IngestOptions {
    /// How `source` is read, within `[poll]`'s `limits`.
    pub fn of(source: &Source, limits: &PollConfig) -> IngestOptions {
        IngestOptions {
            timezone: source.timezone,
            max_entries: limits.max_entries_per_poll,
            title: source.title.clone(),
            filter: source.filter.clone(),
            id_from: source.id_from,
            full_text: source.full_text,
            max_text: limits.max_entry_size,
            rewrites: source.rewrites.clone(),
        }
    }
}

/// Parses, normalizes and stores one fetched document in one batch
/// (CPU-bound: runs on a blocking thread). Not flushed: the caller awaits
/// [`Store::flush_async`] before calling the poll done.
pub fn ingest(
    store: &Store,
    name: &str,
    options: &IngestOptions,
    doc: Document,
    mut state: FetchState,
    now: DateTime<Utc>,
) -> PollReport {
    let cx = DocContext {
        source: name,
        url: doc.url.as_ref(),
        content_type: doc.content_type.as_deref(),
        timezone: options.timezone,
        max_entries: Some(options.max_entries),
        id_from: options.id_from,
    };
    let mut feed = match normalize::parse(&doc.body, &cx) {
        Ok(mut feed) => {
            feed.max_text = options.max_text;
            feed
        }
        // The validators of a broken document are not kept: the next poll
        // fetches it again instead of being told "not modified".
        Err(e) => return record_error(store, name, state, &e.to_string()),
    };
    if let Some(title) = &options.title {
        feed.title = Some(title.clone());
    }
    let raw = std::mem::take(&mut feed.entries);
    let in_feed = feed.total as u32;
    let skipped = feed.total.saturating_sub(raw.len()) as u32;
    if in_feed == 0 && state.last_entry_count > 0 {
        // More likely a broken publisher than a feed that was emptied on
        // purpose: keep what is stored and say so.
        let reason = format!("the feed suddenly has no entries (it had {})", state.last_entry_count);
        return record_error(store, name, state, &reason);
    }
    let mut entries = Vec::with_capacity(raw.len());
    let mut unchanged = Vec::new();
    // What the source's last document listed, with fingerprints: an entry
    // the source did not change is not sanitized or written again. (A
    // source never ingested before cannot have delivered these unchanged.)
    let listed: HashMap<String, Listed> = if state.last_success.is_some() {
        match store.listed(name) {
            Ok(listed) => listed.into_iter().map(|l| (l.key.clone(), l)).collect(),
            Err(e) => return record_error(store, name, state, &e.to_string()),
        }
    } else {
        HashMap::new()
    };
    let stamp = (!options.rewrites.is_empty()).then(|| options.rewrites.stamp());
    for mut r in raw {
        // (Rules that changed make every entry new to them.)
        if let Some(stamp) = &stamp {
            r.fingerprint.push_str(stamp);
        }
        match listed.get(&r.key) {
            Some(l) if l.fingerprint == r.fingerprint => unchanged.push(l.clone()),
            // Listed by a thau that kept no fingerprints: ask the entry.
            Some(l) if l.fingerprint.is_empty() => {
                match store.unchanged(name, &r.key, r.link.as_ref().map(|l| l.as_str()), &r.fingerprint) {
                    Ok(Some(stored)) => unchanged.push(Listed {
                        key: r.key.clone(),
                        stored,
                        fingerprint: r.fingerprint.clone(),
                    }),
                    Ok(None) => entries.push(finish(r, &feed, options, now)),
                    Err(e) => return record_error(store, name, state, &e.to_string()),
                }
            }
            _ => entries.push(finish(r, &feed, options, now)),
        }
    }
    let before = entries.len();
    entries.retain(|e| options.filter.keeps(e));
    state.last_filtered = (before - entries.len()) as u32;
    state.etag = doc.validators.etag;
    state.last_modified = doc.validators.last_modified;
    state.last_entry_count = in_feed;
    // What had to be left out to read the document at all.
    state.warning = feed.warning.take();
    mark_success(&mut state, now);
    let (hub, topic) = (feed.hub.map(String::from), feed.self_url.map(String::from));
    // New entries that are only a teaser, for `full_text`.
    let mut teasers = Vec::new();
    if options.full_text {
        for e in entries.iter().filter(|e| e.content.is_none()) {
            if let (Some(link), Ok(None)) = (e.link.as_deref().and_then(|l| Url::parse(l).ok()), store.entry(&e.key)) {
                teasers.push((e.key.clone(), link));
            }
        }
    }
    match store.apply_poll(name, entries, unchanged, &mut state, now) {
        Ok(counts) => PollReport {
            counts,
            in_feed,
            skipped,
            hub,
            topic,
            teasers,
            ..PollReport::new(name, counts.outcome())
        },
        // Nothing of this poll was written (the batch is atomic); the old
        // entries and state stay as they were.
        Err(e) => PollReport::failed(name, &e),
    }
}

/// Stores what a WebSub hub pushed for a source: its entries go through
/// the same normalization as a poll's. A push may hold only the new
/// entries, so what the source's last document listed stays listed (never
/// pruned), and its validators and poll record are left as they are.
pub fn ingest_push(
    store: &Store,
    name: &str,
    options: &IngestOptions,
    feed_url: Option<&Url>,
    body: &[u8],
    content_type: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Counts, String> {
    // The push is the source's feed: read as if fetched from its URL.
    let cx = DocContext {
        source: name,
        url: feed_url,
        content_type,
        timezone: options.timezone,
        max_entries: Some(options.max_entries),
        id_from: options.id_from,
    };
    let mut feed = normalize::parse(body, &cx).map_err(|e| e.to_string())?;
    feed.max_text = options.max_text;
    if let Some(title) = &options.title {
        feed.title = Some(title.clone());
    }
    let mut state = store.fetch_state(name).map_err(|e| e.to_string())?.unwrap_or_default();
    let mut listed: HashMap<String, Listed> = store
        .listed(name)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|l| (l.key.clone(), l))
        .collect();
    let raw = std::mem::take(&mut feed.entries);
    let mut entries = Vec::with_capacity(raw.len());
    let mut unchanged = Vec::new();
    let stamp = (!options.rewrites.is_empty()).then(|| options.rewrites.stamp());
    for mut r in raw {
        if let Some(stamp) = &stamp {
            r.fingerprint.push_str(stamp);
        }
        match listed.remove(&r.key) {
            Some(l) if l.fingerprint == r.fingerprint => unchanged.push(l),
            _ => entries.push(finish(r, &feed, options, now)),
        }
    }
    entries.retain(|e| options.filter.keeps(e));
    unchanged.extend(listed.into_values());
    store
        .apply_push(name, entries, unchanged, &mut state, now)
        .map_err(|e| e.to_string())
}

/// A new or changed entry as thau stores it: the source's rewrite rules
/// applied to its HTML as written (before it is sanitized), then to its
/// title and link.
pub fn finish(
    mut raw: normalize::RawEntry,
    feed: &normalize::ParsedFeed,
    options: &IngestOptions,
    now: DateTime<Utc>,
) -> crate::model::Entry {
    let rewrites = &options.rewrites;
    if rewrites.is_empty() {
        return raw.finish(feed, now);
    }
    raw.edit_html(|content, html| {
        let field = match content {
            true => crate::rewrite::Field::Content,
            false => crate::rewrite::Field::Summary,
        };
        rewrites.raw_html(field, html)
    });
    let mut entry = raw.finish(feed, now);
    rewrites.apply(&mut entry);
    entry
}

fn mark_success(state: &mut FetchState, now: DateTime<Utc>) {
    state.last_success = Some(now);
    state.last_error = None;
    state.consecutive_failures = 0;
    state.retry_after = None;
    state.gone = false;
}

fn record_error(store: &Store, name: &str, mut state: FetchState, reason: &str) -> PollReport {
    state.last_outcome = Some(Outcome::Error);
    state.last_error = Some(reason.to_string());
    state.consecutive_failures += 1;
    let mut report = PollReport::new(name, Outcome::Error);
    report.error = Some(match store.save_fetch_state(name, &state) {
        Ok(()) => reason.to_string(),
        Err(e) => format!("{reason} (and recording it failed: {e})"),
    });
    report
}
