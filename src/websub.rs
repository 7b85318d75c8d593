//! WebSub (W3C Recommendation, 23 January 2018), hub side: thau is the hub
//! of its own feeds. `POST /websub` takes subscription requests (§5.1),
//! each verified with a challenge sent to the callback (§5.3) before it is
//! stored (subscriptions survive restarts); when a republish changes a
//! feed, its new entries are posted to every subscriber of that feed
//! (§7), signed with the subscriber's secret (`X-Hub-Signature: sha256=…`),
//! tried again with a doubling wait when the callback fails. With
//! `[websub] hub`, feeds name that hub instead and thau pings it on each
//! change. Every request goes through the `outbound` policy: callbacks
//! are public addresses unless `[websub] internal_callbacks`; a callback's
//! answer is read up to a few bytes more than the challenge; a bounded
//! number of verifications runs at once; a delivery that hangs holds up
//! none of the others. Wires `store`, `site`, `publish` and `outbound`.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tracing::{debug, info, warn};
use url::Url;

use crate::config::{Config, WEBSUB_ATTEMPTS};
use crate::model::Entry;
use crate::normalize::hex;
use crate::outbound::{Outbound, Reach};
use crate::publish::{FeedKind, Format, SectionFeed};
use crate::site::{Site, SiteSection};
use crate::store::{Store, StoreError};

/// The shortest lease granted, and the time a verification may take.
const MIN_LEASE: Duration = Duration::from_secs(1);
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// `hub.secret` must be shorter than this (§5.1).
const MAX_SECRET: usize = 200;
/// Deliveries under way at once: enough that callbacks that hang (each
/// for [`CALL_TIMEOUT`] at most) leave room for the others.
const DELIVERIES: usize = 128;
/// Verifications of intent under way at once; past it, `POST /websub`
/// answers 503 with `Retry-After`.
pub const VERIFICATIONS: usize = 32;
/// The most of a callback's answer to a verification that is read: the
/// challenge is 32 characters.
const MAX_CHALLENGE_ANSWER: usize = 256;

/// A verified subscription, as stored (`w\0{topic}\0{callback}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub topic: String,
    pub callback: String,
    pub secret: Option<String>,
    pub expires: DateTime<Utc>,
}

/// A subscription request (`POST /websub`), once its form was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub subscribe: bool,
    pub topic: String,
    pub callback: Url,
    pub lease: Duration,
    pub secret: Option<String>,
}

/// Why a request is refused: a 400 whose body says it (§5.1.2).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("hub.mode must be \"subscribe\" or \"unsubscribe\"")]
    Mode,
    #[error(
        "hub.topic {0:?} is not a feed of this hub (a section's rss.xml, atom.xml or feed.json, or /feed.xml, /atom.xml, /feed.json)"
    )]
    Topic(String),
    #[error("hub.callback must be an absolute http(s) URL without a fragment")]
    Callback,
    #[error("hub.callback is on an internal address, which this hub does not call ([websub] internal_callbacks)")]
    InternalCallback,
    #[error("hub.lease_seconds must be a whole number of seconds")]
    Lease,
    #[error("hub.secret must be shorter than 200 bytes")]
    Secret,
}

impl Request {
    /// Reads and checks a form-encoded request against the site's feeds.
    pub fn parse(form: &[u8], site: &Site, config: &Config) -> Result<Request, RequestError> {
        let (mut mode, mut topic, mut callback, mut lease, mut secret) = (None, None, None, None, None);
        // Parameters other than these are ignored (§5.1).
        for (k, v) in url::form_urlencoded::parse(form) {
            match k.as_ref() {
                "hub.mode" => mode = Some(v.into_owned()),
                "hub.topic" => topic = Some(v.into_owned()),
                "hub.callback" => callback = Some(v.into_owned()),
                "hub.lease_seconds" => lease = Some(v.into_owned()),
                "hub.secret" => secret = Some(v.into_owned()),
                _ => {}
            }
        }
        let subscribe = match mode.as_deref() {
            Some("subscribe") => true,
            Some("unsubscribe") => false,
            _ => return Err(RequestError::Mode),
        };
        let topic = topic.unwrap_or_default();
        if topic_feed(site, &topic).is_none() {
            return Err(RequestError::Topic(topic));
        }
        let callback = callback
            .and_then(|c| Url::parse(&c).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.fragment().is_none() && u.host().is_some())
            .ok_or(RequestError::Callback)?;
        let lease = match lease {
            None => config.websub.max_lease,
            Some(s) => {
                let secs: u64 = s.trim().parse().map_err(|_| RequestError::Lease)?;
                Duration::from_secs(secs).clamp(MIN_LEASE, config.websub.max_lease)
            }
        };
        if secret.as_ref().is_some_and(|s| s.len() >= MAX_SECRET) {
            return Err(RequestError::Secret);
        }
        Ok(Request {
            subscribe,
            topic,
            callback,
            lease,
            secret: secret.filter(|s| !s.is_empty()),
        })
    }
}

/// The feed a topic URL names: a section's slug (empty for the "all
/// sections" feed) and the format.
fn topic_feed<'s>(site: &'s Site, topic: &str) -> Option<(&'s SiteSection, bool, Format)> {
    let rest = topic.strip_prefix(&site.base_url)?;
    if let Some(format) = Format::ALL
        .into_iter()
        .find(|f| rest.strip_prefix('/') == Some(f.all_file_name()))
    {
        return Some((site.all.as_ref()?, true, format));
    }
    let (slug, file) = rest.strip_prefix("/sections/")?.split_once('/')?;
    let format = Format::ALL.into_iter().find(|f| f.file_name() == file)?;
    // (A private section's feeds are not topics: they need a key.)
    Some((site.section(slug).filter(|s| !s.section.private)?, false, format))
}

/// The hub: verifies requests and delivers content, in the background.
pub struct Hub {
    store: Arc<Store>,
    outbound: Outbound,
    /// Deliveries under way at once.
    turns: Arc<tokio::sync::Semaphore>,
    /// Verifications under way at once.
    verifications: Arc<tokio::sync::Semaphore>,
}

/// What may be called back: public addresses, unless the config allows
/// internal ones.
fn callback_reach(config: &Config) -> Reach {
    match config.websub.internal_callbacks {
        true => Reach::Anywhere,
        false => Reach::Found { within: None },
    }
}

impl Hub {
    pub fn new(store: Arc<Store>, outbound: Outbound) -> Hub {
        Hub {
            store,
            outbound,
            turns: Arc::new(tokio::sync::Semaphore::new(DELIVERIES)),
            verifications: Arc::new(tokio::sync::Semaphore::new(VERIFICATIONS)),
        }
    }

    /// Whether a callback may be called: not on an internal address,
    /// unless the config allows it. Checked again at each call (a name is
    /// checked each time it is resolved).
    pub async fn callback_allowed(&self, config: &Config, callback: &Url) -> bool {
        self.outbound.set_internal(&config.poll.internal_networks);
        self.outbound.check(callback, &callback_reach(config)).await.is_ok()
    }

    /// A place for one more verification, or None when
    /// [`VERIFICATIONS`] are under way.
    pub fn verification_turn(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.verifications.clone().try_acquire_owned().ok()
    }

    /// The client for a call to `callback`, or None when the policy
    /// refuses it.
    async fn callback_client(&self, config: &Config, callback: &Url) -> Option<reqwest::Client> {
        self.outbound.set_internal(&config.poll.internal_networks);
        let scope = self.outbound.scope(callback, &callback_reach(config)).await;
        match self.outbound.client(callback, &scope, None) {
            Ok(client) => Some(client),
            Err(refused) => {
                warn!(callback = %crate::redact::redacted(callback), error = %refused, "websub: callback not called");
                None
            }
        }
    }

    /// Verifies the subscriber's intent (§5.3): a GET to the callback with
    /// a challenge it must echo. Then stores (or removes) the subscription.
    pub async fn verify(&self, config: &Config, request: Request) -> bool {
        let challenge = challenge();
        let mut url = request.callback.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("hub.mode", if request.subscribe { "subscribe" } else { "unsubscribe" });
            q.append_pair("hub.topic", &request.topic);
            q.append_pair("hub.challenge", &challenge);
            if request.subscribe {
                q.append_pair("hub.lease_seconds", &request.lease.as_secs().to_string());
            }
        }
        let verified = match self.callback_client(config, &request.callback).await {
            Some(client) => match client.get(url).timeout(CALL_TIMEOUT).send().await {
                // A callback that streams more than a challenge's worth is
                // not read further.
                Ok(r) if r.status().is_success() => {
                    let answer =
                        tokio::time::timeout(CALL_TIMEOUT, crate::outbound::read_at_most(r, MAX_CHALLENGE_ANSWER))
                            .await;
                    matches!(answer, Ok(Ok(Some(body))) if body == challenge.as_bytes())
                }
                Ok(r) => {
                    debug!(callback = %request.callback, status = %r.status(), "websub verification refused");
                    false
                }
                Err(e) => {
                    debug!(callback = %request.callback, error = %e, "websub verification failed");
                    false
                }
            },
            None => false,
        };
        if !verified {
            info!(callback = %request.callback, topic = %request.topic, "websub request not verified: ignored");
            return false;
        }
        let done = if request.subscribe {
            let sub = Subscription {
                topic: request.topic.clone(),
                callback: request.callback.to_string(),
                secret: request.secret.clone(),
                expires: Utc::now() + chrono::Duration::from_std(request.lease).unwrap_or(chrono::Duration::zero()),
            };
            // A new subscription to the same topic and callback replaces
            // the old one (its lease and secret).
            self.store.put_websub(&sub.topic, &sub.callback, &sub)
        } else {
            self.store.remove_websub(&request.topic, request.callback.as_str())
        };
        match done {
            Ok(()) => {
                info!(callback = %request.callback, topic = %request.topic, subscribe = request.subscribe, "websub request verified");
                true
            }
            Err(e) => {
                warn!(error = %e, "cannot record a websub subscription");
                false
            }
        }
    }

    /// After a republish: for each feed whose bytes changed, its new and
    /// updated entries go to its subscribers (and an external hub is
    /// pinged). Returns at once; deliveries run in the background.
    pub fn publish(self: &Arc<Self>, config: &Arc<Config>, previous: &Site, site: &Site) -> Result<(), StoreError> {
        if !previous.ready {
            return Ok(());
        }
        let mut feeds: Vec<(&SiteSection, Option<&SiteSection>, bool)> = site
            .sections
            .iter()
            .map(|s| (s, previous.section(&s.section.slug), false))
            .collect();
        if let Some(all) = &site.all {
            feeds.push((all, previous.all.as_ref(), true));
        }
        for (now, before, all) in feeds {
            let Some(before) = before.filter(|_| !now.section.private) else {
                continue;
            };
            // A feed that lost a story (taken down, pruned) is pushed whole:
            // subscribers get the feed as it is now; otherwise what is new.
            let fresh = match lost_entries(before, now, site.page_size) {
                true => now.entries.iter().take(site.page_size).cloned().collect(),
                false => fresh_entries(before, now, site.page_size),
            };
            if fresh.is_empty() {
                continue;
            }
            for format in Format::ALL {
                if before.feeds.get(&format).map(|d| &d.hash) == now.feeds.get(&format).map(|d| &d.hash) {
                    continue;
                }
                let feed = SectionFeed {
                    section: &now.section,
                    base_url: &site.base_url,
                    entries: &fresh,
                    kind: if all { FeedKind::All } else { FeedKind::Section },
                    archives: now.archives,
                    hub: site.hub.as_deref(),
                };
                let topic = feed.url(format);
                if let Some(hub) = &config.websub.hub {
                    self.ping(config.clone(), hub.clone(), topic.clone());
                }
                // One read of the topic's subscribers for every delivery.
                let subscribers = self.store.websub_subscriptions::<Subscription>(&topic)?;
                if subscribers.is_empty() {
                    continue;
                }
                let body = Arc::new(format.render(&feed));
                let link = Arc::new(format!("<{}>; rel=\"hub\", <{topic}>; rel=\"self\"", site.hub_url()));
                for sub in subscribers {
                    if sub.expires <= Utc::now() {
                        let _ = self.store.remove_websub(&sub.topic, &sub.callback);
                        continue;
                    }
                    self.deliver(
                        config.clone(),
                        sub,
                        format.content_type(),
                        body.clone(),
                        link.clone(),
                        0,
                    );
                }
            }
        }
        Ok(())
    }

    /// Posts `body` to a subscriber, signed; tries again after
    /// `retry × 2^attempt` when the callback fails, [`WEBSUB_ATTEMPTS`]
    /// times in all. A callback that answers 410 Gone is unsubscribed.
    fn deliver(
        self: &Arc<Self>,
        config: Arc<Config>,
        sub: Subscription,
        content_type: &'static str,
        body: Arc<Vec<u8>>,
        link: Arc<String>,
        attempt: u32,
    ) {
        let hub = self.clone();
        tokio::spawn(async move {
            if attempt > 0 {
                tokio::time::sleep(config.websub.retry * 2u32.saturating_pow(attempt - 1)).await;
            }
            let Ok(_turn) = hub.turns.clone().acquire_owned().await else {
                return;
            };
            // A retry: unsubscribed or renewed with another secret
            // meanwhile? The stored subscription decides (one lookup).
            let sub = match attempt {
                0 => sub,
                _ => match hub.store.websub_subscription::<Subscription>(&sub.topic, &sub.callback) {
                    Ok(Some(current)) => current,
                    _ => return,
                },
            };
            if sub.expires <= Utc::now() {
                return;
            }
            let Ok(callback) = Url::parse(&sub.callback) else {
                return;
            };
            let Some(client) = hub.callback_client(&config, &callback).await else {
                return;
            };
            let mut request = client
                .post(callback)
                .timeout(CALL_TIMEOUT)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .header(reqwest::header::LINK, link.as_str());
            if let Some(secret) = &sub.secret {
                request = request.header("X-Hub-Signature", format!("sha256={}", sign(secret, &body)));
            }
            let outcome = request.body(body.to_vec()).send().await;
            match outcome {
                Ok(r) if r.status().is_success() => {
                    debug!(callback = %sub.callback, topic = %sub.topic, "websub content delivered");
                }
                Ok(r) if r.status() == reqwest::StatusCode::GONE => {
                    info!(callback = %sub.callback, "websub callback gone (410): unsubscribed");
                    let _ = hub.store.remove_websub(&sub.topic, &sub.callback);
                }
                failed => {
                    let why = match failed {
                        Ok(r) => format!("HTTP {}", r.status()),
                        Err(e) => e.to_string(),
                    };
                    if attempt + 1 < WEBSUB_ATTEMPTS {
                        debug!(callback = %sub.callback, error = %why, attempt, "websub delivery failed; will try again");
                        drop(_turn);
                        hub.deliver(config.clone(), sub, content_type, body, link, attempt + 1);
                    } else {
                        warn!(callback = %sub.callback, error = %why, "websub delivery failed for good");
                    }
                }
            }
        });
    }

    /// Tells an external hub that `topic` changed (the de facto
    /// `hub.mode=publish` ping). The hub is the admin's (`[websub] hub`).
    fn ping(&self, config: Arc<Config>, hub: Url, topic: String) {
        let outbound = self.outbound.clone();
        tokio::spawn(async move {
            outbound.set_internal(&config.poll.internal_networks);
            let scope = outbound.scope(&hub, &Reach::Configured).await;
            let Ok(client) = outbound.client(&hub, &scope, None) else {
                return;
            };
            let form = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("hub.mode", "publish")
                .append_pair("hub.url", &topic)
                .finish();
            let ping = client
                .post(hub.clone())
                .timeout(CALL_TIMEOUT)
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form);
            match ping.send().await {
                Ok(r) if r.status().is_success() => debug!(hub = %hub, topic, "websub hub pinged"),
                Ok(r) => warn!(hub = %hub, status = %r.status(), "websub hub refused the ping"),
                Err(e) => warn!(hub = %hub, error = %e, "websub hub cannot be pinged"),
            }
            drop(config);
        });
    }
}

/// Entries on the new page that the old one did not show as they are now.
/// Whether stories left the feed's page other than by newer ones pushing
/// them off its end.
fn lost_entries(before: &SiteSection, now: &SiteSection, page_size: usize) -> bool {
    let page = &now.entries[..now.entries.len().min(page_size)];
    let shown: std::collections::HashSet<&str> = page.iter().map(|e| e.key.as_str()).collect();
    before.entries.iter().take(page_size).any(|e| {
        !shown.contains(e.key.as_str())
            && page
                .last()
                .is_none_or(|last| crate::publish::newest_first(e, last) != std::cmp::Ordering::Greater)
    })
}

fn fresh_entries(before: &SiteSection, now: &SiteSection, page_size: usize) -> Vec<Arc<Entry>> {
    let old: std::collections::HashMap<&str, &Arc<Entry>> = before
        .entries
        .iter()
        .take(page_size)
        .map(|e| (e.key.as_str(), e))
        .collect();
    now.entries
        .iter()
        .take(page_size)
        .filter(|e| old.get(e.key.as_str()).is_none_or(|o| **o != **e))
        .cloned()
        .collect()
}

/// `HMAC-SHA256(secret, body)` in hex (§8).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    hex(&mac.finalize().into_bytes())
}

/// 128 random bits in hex, from the operating system (the standard
/// library's OS-seeded hasher should that ever fail).
fn challenge() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        for half in bytes.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(Utc::now().timestamp_nanos_opt().unwrap_or(0) as u128);
            half.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    hex(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_as_rfc_4231_gives_them() {
        // RFC 4231, test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn challenges_differ() {
        let (a, b) = (challenge(), challenge());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}

/// The subscriber side: thau subscribing to the hubs its sources name
/// (`websub = true`), answering the hub's verification of intent only for
/// a request it has pending (its callback URL carries a token that only
/// the hub was given: `/websub/callback/{source}/{token}`), and taking
/// pushes there (signature checked) into the store.
pub mod subscriber {
    use std::sync::Arc;

    use axum::http::StatusCode;
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Serialize};
    use tracing::{info, warn};
    use url::Url;

    use crate::config::{Config, Source};
    use crate::outbound::{Outbound, Reach};
    use crate::pipeline::{IngestOptions, PollReport};
    use crate::store::Store;

    /// A source's subscription, as stored (`W\0{source}`).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Push {
        pub hub: String,
        pub topic: String,
        pub callback: String,
        pub secret: String,
        /// Confirmed by the hub's challenge, and until when.
        pub verified: bool,
        pub expires: Option<DateTime<Utc>>,
        /// When the last request was sent.
        pub requested: DateTime<Utc>,
        /// The token in the callback URL, kept when renewing (the hub then
        /// renews rather than adds a subscription). Empty for a
        /// subscription made before tokens: renewed at the next poll.
        #[serde(default)]
        pub token: String,
        /// A request was sent and its verification has not come yet: the
        /// only time a verification of intent is answered.
        #[serde(default)]
        pub pending: bool,
    }

    impl Push {
        /// Whether the hub pushes to us now: then polls can be rarer.
        pub fn active(&self, now: DateTime<Utc>) -> bool {
            self.verified && self.expires.is_some_and(|e| e > now)
        }
    }

    /// A request unanswered this long is sent again.
    const PENDING: chrono::Duration = chrono::Duration::minutes(10);
    /// A hub's verification is answered this long after the request at most.
    const VERIFY_WITHIN: chrono::Duration = chrono::Duration::hours(1);
    /// The longest challenge echoed.
    const MAX_CHALLENGE: usize = 256;

    /// Why a verification of intent is not answered with its challenge.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Refusal {
        /// Not a request of ours (404).
        NotOurs,
        /// A request of ours, badly formed (400).
        Malformed,
        /// The store cannot record it (503).
        Store,
    }

    impl Refusal {
        pub fn status(self) -> StatusCode {
            match self {
                Refusal::NotOurs => StatusCode::NOT_FOUND,
                Refusal::Malformed => StatusCode::BAD_REQUEST,
                Refusal::Store => StatusCode::SERVICE_UNAVAILABLE,
            }
        }
    }

    pub struct Subscriber {
        store: Arc<Store>,
        /// Where hubs call us back: `{base_url}/websub/callback/{source}/{token}`.
        base_url: String,
        outbound: Outbound,
    }

    impl Subscriber {
        pub fn new(store: Arc<Store>, base_url: String, outbound: Outbound) -> Subscriber {
            Subscriber {
                store,
                base_url,
                outbound,
            }
        }

        pub fn state(&self, source: &str) -> Option<Push> {
            self.store.push_state::<Push>(source).ok().flatten()
        }

        /// After a poll of `source`: subscribes when its feed names a hub
        /// and no subscription is active, or renews one that ends within a
        /// tenth of its lease (a day at most).
        pub async fn after_poll(&self, config: &Config, source: &Source, report: &PollReport) {
            if !source.websub {
                return;
            }
            let (Some(hub), Some(topic)) = (&report.hub, &report.topic) else {
                return;
            };
            let now = Utc::now();
            let current = self.state(&source.name);
            let due = match &current {
                None => true,
                Some(p) if p.hub != *hub || p.topic != *topic || p.token.is_empty() => true,
                Some(p) if !p.verified => now - p.requested > PENDING,
                Some(p) => p.expires.is_none_or(|e| {
                    let lease = e - p.requested;
                    e - now < (lease / 10).min(chrono::Duration::days(1))
                }),
            };
            if !due {
                return;
            }
            // The same secret and callback when renewing: a push signed
            // with it may be on its way, and the hub renews rather than adds.
            let same = current
                .as_ref()
                .filter(|p| p.hub == *hub && p.topic == *topic && !p.token.is_empty());
            let secret = same.map_or_else(super::challenge, |p| p.secret.clone());
            let token = same.map_or_else(super::challenge, |p| p.token.clone());
            let callback = format!("{}/websub/callback/{}/{token}", self.base_url, source.name);
            let push = Push {
                hub: hub.clone(),
                topic: topic.clone(),
                callback: callback.clone(),
                secret: secret.clone(),
                verified: current
                    .as_ref()
                    .is_some_and(|p| p.verified && p.hub == *hub && p.topic == *topic),
                expires: current.as_ref().and_then(|p| p.expires),
                requested: now,
                token,
                pending: true,
            };
            // Recorded first: the hub's challenge may come before its answer.
            if let Err(e) = self.store.put_push_state(&source.name, &push) {
                warn!(source = %source.name, error = %e, "websub: cannot record the subscription");
                return;
            }
            let Ok(hub_url) = Url::parse(hub) else { return };
            // The hub is named by the feed, not by the admin: a public
            // address, or the source's own origin when that is internal.
            self.outbound.set_internal(&config.poll.internal_networks);
            let reach = Reach::Found {
                within: source.location.url().cloned(),
            };
            let scope = self.outbound.scope(&hub_url, &reach).await;
            let client = match self.outbound.client(&hub_url, &scope, None) {
                Ok(client) => client,
                Err(refused) => {
                    warn!(source = %source.name, error = %refused, "websub: not subscribing");
                    return;
                }
            };
            let form = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("hub.mode", "subscribe")
                .append_pair("hub.topic", topic)
                .append_pair("hub.callback", &callback)
                .append_pair("hub.secret", &secret)
                .append_pair("hub.lease_seconds", &config.websub.max_lease.as_secs().to_string())
                .finish();
            let sent = client
                .post(hub_url)
                .timeout(super::CALL_TIMEOUT)
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => {
                    info!(source = %source.name, hub, topic, "websub: subscription requested")
                }
                Ok(r) => {
                    warn!(source = %source.name, hub, status = %r.status(), "websub: the hub refused the subscription")
                }
                Err(e) => warn!(source = %source.name, hub, error = %e, "websub: the hub cannot be reached"),
            }
        }

        /// The hub's verification of intent (GET on the callback): the
        /// challenge when it is the request we have pending, on the
        /// callback (`token`) we gave for it. The lease is taken as the
        /// hub grants it, never longer than we asked (`max_lease`).
        pub fn verify(
            &self,
            source: &str,
            token: Option<&str>,
            query: &str,
            max_lease: std::time::Duration,
        ) -> Result<String, Refusal> {
            let q: std::collections::HashMap<String, String> =
                url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
            let mode = q.get("hub.mode").map(String::as_str);
            let topic = q.get("hub.topic");
            let challenge = q
                .get("hub.challenge")
                .filter(|c| !c.is_empty() && c.len() <= MAX_CHALLENGE);
            let Some(mut push) = self.state(source) else {
                // Nothing asked: an unsubscription is confirmed (we want
                // nothing from this hub), a subscription is not.
                return match (mode, challenge) {
                    (Some("unsubscribe"), Some(c)) => Ok(c.clone()),
                    _ => Err(Refusal::NotOurs),
                };
            };
            let ours = token.is_some_and(|t| {
                !push.token.is_empty() && crate::config::same_secret(t.as_bytes(), push.token.as_bytes())
            });
            if !ours {
                return Err(Refusal::NotOurs);
            }
            let now = Utc::now();
            match mode {
                Some("subscribe")
                    if topic == Some(&push.topic) && push.pending && now - push.requested <= VERIFY_WITHIN =>
                {
                    let challenge = challenge.ok_or(Refusal::Malformed)?;
                    let granted: u64 = q
                        .get("hub.lease_seconds")
                        .and_then(|l| l.trim().parse().ok())
                        .ok_or(Refusal::Malformed)?;
                    let lease = granted.min(max_lease.as_secs());
                    let lease = chrono::Duration::try_seconds(i64::try_from(lease).unwrap_or(i64::MAX))
                        .unwrap_or(chrono::Duration::zero());
                    push.verified = true;
                    push.pending = false;
                    push.expires = Some(now.checked_add_signed(lease).unwrap_or(now));
                    self.store.put_push_state(source, &push).map_err(|_| Refusal::Store)?;
                    info!(source, lease = lease.num_seconds(), "websub: subscription verified");
                    Ok(challenge.clone())
                }
                Some("denied") if topic.is_none_or(|t| *t == push.topic) => {
                    warn!(
                        source,
                        reason = q.get("hub.reason").map(String::as_str).unwrap_or(""),
                        "websub: the hub denied the subscription"
                    );
                    self.store.remove_push_state(source).map_err(|_| Refusal::Store)?;
                    Ok(String::new())
                }
                _ => Err(Refusal::NotOurs),
            }
        }

        /// Content pushed by the hub: stored when it is signed with our
        /// secret for an active subscription, refused otherwise.
        pub fn take(
            &self,
            config: &Config,
            source: &str,
            token: Option<&str>,
            signature: Option<&str>,
            content_type: Option<&str>,
            body: &[u8],
        ) -> Result<crate::store::Counts, (StatusCode, String)> {
            let Some(conf) = config.source(source).filter(|s| s.websub) else {
                return Err((StatusCode::GONE, "no such subscription\n".into()));
            };
            // On a callback with a token, it must be the subscription's (a
            // callback without one is a subscription made before tokens).
            let push = self
                .state(source)
                .filter(|p| p.active(Utc::now()))
                .filter(|p| token.is_none_or(|t| crate::config::same_secret(t.as_bytes(), p.token.as_bytes())))
                .ok_or((StatusCode::GONE, "no such subscription\n".to_string()))?;
            let Some((method, given)) = signature.and_then(|s| s.split_once('=')) else {
                return Err((StatusCode::FORBIDDEN, "unsigned: X-Hub-Signature is required\n".into()));
            };
            // Any of the four the Recommendation names (§8): public hubs
            // commonly sign with sha1.
            fn hmac_hex<M: hmac::Mac + hmac::digest::KeyInit>(secret: &str, body: &[u8]) -> String {
                let mut mac =
                    <M as hmac::digest::KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
                mac.update(body);
                crate::normalize::hex(&mac.finalize().into_bytes())
            }
            let expected = match method.trim().to_ascii_lowercase().as_str() {
                "sha1" => hmac_hex::<hmac::Hmac<sha1::Sha1>>(&push.secret, body),
                "sha256" => hmac_hex::<hmac::Hmac<sha2::Sha256>>(&push.secret, body),
                "sha384" => hmac_hex::<hmac::Hmac<sha2::Sha384>>(&push.secret, body),
                "sha512" => hmac_hex::<hmac::Hmac<sha2::Sha512>>(&push.secret, body),
                _ => {
                    return Err((
                        StatusCode::FORBIDDEN,
                        "X-Hub-Signature: use sha1, sha256, sha384 or sha512\n".into(),
                    ));
                }
            };
            if !crate::config::same_secret(expected.as_bytes(), given.trim().to_ascii_lowercase().as_bytes()) {
                warn!(source, "websub: a push with a wrong signature was refused");
                return Err((StatusCode::FORBIDDEN, "wrong signature\n".into()));
            }
            let options = IngestOptions {
                full_text: false,
                ..IngestOptions::of(conf, &config.poll)
            };
            crate::pipeline::ingest_push(
                &self.store,
                source,
                &options,
                conf.location.url(),
                body,
                content_type,
                Utc::now(),
            )
            .map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, format!("{e}\n")))
        }
    }
}
