//! WebSub (W3C Recommendation, 23 January 2018), hub side: thau is the hub
//! of its own feeds. `POST /websub` takes subscription requests (§5.1),
//! each verified with a challenge sent to the callback (§5.3) before it is
//! stored (subscriptions survive restarts); when a republish changes a
//! feed, its new entries are posted to every subscriber of that feed
//! (§7), signed with the subscriber's secret (`X-Hub-Signature: sha256=…`),
//! tried again with a doubling wait when the callback fails. With
//! `[websub] hub`, feeds name that hub instead and thau pings it on each
//! change. Wires `store`, `site`, `publish` and `fetch` (for a client that
//! keeps callbacks off internal addresses).

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
use crate::publish::{FeedKind, Format, SectionFeed};
use crate::site::{Site, SiteSection};
use crate::store::{Store, StoreError};

/// The shortest lease granted, and the time a verification may take.
const MIN_LEASE: Duration = Duration::from_secs(1);
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// `hub.secret` must be shorter than this (§5.1).
const MAX_SECRET: usize = 200;
/// Deliveries under way at once.
const DELIVERIES: usize = 16;

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
    Some((site.section(slug)?, false, format))
}

/// The hub: verifies requests and delivers content, in the background.
pub struct Hub {
    store: Arc<Store>,
    /// Deliveries under way at once.
    turns: Arc<tokio::sync::Semaphore>,
}

impl Hub {
    pub fn new(store: Arc<Store>) -> Hub {
        Hub {
            store,
            turns: Arc::new(tokio::sync::Semaphore::new(DELIVERIES)),
        }
    }

    fn client(config: &Config) -> Result<reqwest::Client, reqwest::Error> {
        let internal = (!config.websub.internal_callbacks).then(|| config.poll.internal_networks.to_vec());
        crate::fetch::callback_client(internal, CALL_TIMEOUT)
    }

    /// Whether a callback may be called: not on an internal address,
    /// unless the config allows it. Names are checked again by the
    /// client's resolver when it connects.
    pub async fn callback_allowed(config: &Config, callback: &Url) -> bool {
        if config.websub.internal_callbacks {
            return true;
        }
        let internal = &config.poll.internal_networks;
        let port = callback.port_or_known_default().unwrap_or(80);
        match callback.host() {
            Some(url::Host::Ipv4(ip)) => !crate::fetch::is_internal_address(ip.into(), internal),
            Some(url::Host::Ipv6(ip)) => !crate::fetch::is_internal_address(ip.into(), internal),
            Some(url::Host::Domain(name)) => match tokio::net::lookup_host((name, port)).await {
                Ok(addrs) => {
                    let addrs: Vec<_> = addrs.collect();
                    !addrs.is_empty()
                        && addrs
                            .iter()
                            .all(|a| !crate::fetch::is_internal_address(a.ip(), internal))
                }
                Err(_) => false,
            },
            None => false,
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
        let verified = match Hub::client(config) {
            Ok(client) => match client.get(url).send().await {
                Ok(r) if r.status().is_success() => r.text().await.is_ok_and(|body| body == challenge),
                Ok(r) => {
                    debug!(callback = %request.callback, status = %r.status(), "websub verification refused");
                    false
                }
                Err(e) => {
                    debug!(callback = %request.callback, error = %e, "websub verification failed");
                    false
                }
            },
            Err(_) => false,
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
            let Some(before) = before else { continue };
            let fresh = fresh_entries(before, now, site.page_size);
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
            // Unsubscribed or renewed with another secret meanwhile: the
            // stored subscription decides.
            let current = hub
                .store
                .websub_subscriptions::<Subscription>(&sub.topic)
                .ok()
                .and_then(|subs| subs.into_iter().find(|s| s.callback == sub.callback));
            let Some(sub) = current.filter(|s| s.expires > Utc::now()) else {
                return;
            };
            let Ok(callback) = Url::parse(&sub.callback) else {
                return;
            };
            if !Hub::callback_allowed(&config, &callback).await {
                warn!(callback = %sub.callback, "websub callback now on an internal address: not delivered");
                return;
            }
            let Ok(client) = Hub::client(&config) else { return };
            let mut request = client
                .post(callback)
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
    /// `hub.mode=publish` ping).
    fn ping(&self, config: Arc<Config>, hub: Url, topic: String) {
        tokio::spawn(async move {
            let Ok(client) = crate::fetch::callback_client(None, CALL_TIMEOUT) else {
                return;
            };
            let form = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("hub.mode", "publish")
                .append_pair("hub.url", &topic)
                .finish();
            let ping = client
                .post(hub.clone())
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

/// 128 random bits in hex, from the standard library's OS-seeded hasher.
fn challenge() -> String {
    let mut out = String::with_capacity(32);
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(Utc::now().timestamp_nanos_opt().unwrap_or(0) as u128);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
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
