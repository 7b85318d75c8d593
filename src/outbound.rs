//! The one policy for every request thau sends: source polls and their
//! redirects, full-text pages, feed discovery, WebSub subscriptions, hub
//! pings, verifications of intent and deliveries. Which addresses a
//! request may reach depends on who vouches for its URL ([`Reach`]):
//! what the admin wrote may be internal; what thau read in a document or
//! was handed by a client may not (with one exception: the origin of an
//! internal address the admin wrote). Internal addresses are
//! `[poll] internal_networks`, seen through every IPv6 spelling that
//! carries an IPv4 address. Names are checked when they are resolved, at
//! each connection, so a name that later resolves elsewhere (DNS
//! rebinding) gains nothing. Credentials go to the origin (scheme, host
//! and port) they were configured for, never elsewhere. Depends on
//! `config`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use url::Url;

use crate::config::Net;

pub const USER_AGENT: &str = concat!("thau/", env!("CARGO_PKG_VERSION"), " (feed aggregator)");

/// Whether `ip` is internal: in one of `internal`, or an IPv6 address that
/// carries an internal IPv4 address (IPv4-mapped `::ffff:a.b.c.d`,
/// IPv4-compatible `::a.b.c.d`, SIIT `::ffff:0:a.b.c.d`, NAT64
/// `64:ff9b::a.b.c.d`, 6to4 `2002:AABB:CCDD::`, Teredo's client). The
/// local-use NAT64 prefix `64:ff9b:1::/48` translates to networks thau
/// cannot see: always internal.
pub fn is_internal(ip: IpAddr, internal: &[Net]) -> bool {
    if internal.iter().any(|net| net.contains(ip)) {
        return true;
    }
    match ip {
        IpAddr::V4(_) => false,
        IpAddr::V6(v6) => {
            let s = v6.segments();
            (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)
                || embedded_v4(v6).is_some_and(|v4| internal.iter().any(|net| net.contains(IpAddr::V4(v4))))
        }
    }
}

/// The IPv4 address an IPv6 address carries, in the forms that reach an
/// IPv4 host.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let last32 = Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible; :: and ::1 are not).
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(last32),
        [0, 0, 0, 0, 0, 0, hi, _] if hi != 0 => Some(last32),
        // ::ffff:0:a.b.c.d (SIIT).
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some(last32),
        // 64:ff9b::a.b.c.d (NAT64, well-known prefix).
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(last32),
        // 2002:AABB:CCDD::/48 (6to4).
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))),
        // 2001:0::/32 (Teredo): the client's address, inverted.
        [0x2001, 0, ..] => Some(Ipv4Addr::from(!u32::from(last32))),
        _ => None,
    }
}

/// Who vouches for the URL a chain of requests starts at.
#[derive(Debug, Clone)]
pub enum Reach {
    /// Written by the admin (a source's `url`, `[websub] hub`, the URL
    /// given to `thau add`): it may be internal, and then so may the
    /// places it redirects to; a public one may only lead to public ones.
    Configured,
    /// Read in a document or given by a client (an article's link, the hub
    /// a feed names, a page's alternate links, a subscriber's callback):
    /// public addresses only, except on the origin of `within`, the
    /// configured URL it was read from, when that one is internal.
    Found { within: Option<Url> },
    /// Anywhere: what `[websub] internal_callbacks = true` allows.
    Anywhere,
}

/// What a chain of requests may reach, decided once at its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Anywhere,
    /// Public addresses, and this one origin whatever its address.
    Public {
        except: Option<url::Origin>,
    },
}

/// A request the policy refuses to send.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    #[error("{url}: only http and https are fetched")]
    Scheme { url: String },
    #[error("{url} is on an internal address ({address}; [poll] internal_networks), which thau does not reach for it")]
    Internal { url: String, address: String },
}

/// Resolves names to public addresses only (the client for public
/// scopes): neither a redirect nor a name that resolves elsewhere later
/// can reach an internal address.
struct PublicOnly(Arc<ArcSwap<Vec<Net>>>);

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let internal = self.0.load_full();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let public: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !is_internal(a.ip(), &internal))
                .collect();
            if public.is_empty() {
                return Err(format!("{host} has only internal addresses ([poll] internal_networks)").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The one TLS crypto provider (rustls on ring), for feeds and PostgreSQL.
pub fn tls_provider() -> Arc<rustls::crypto::CryptoProvider> {
    static PROVIDER: std::sync::OnceLock<Arc<rustls::crypto::CryptoProvider>> = std::sync::OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            // reqwest takes the process default: installed once, before any
            // client (another one already installed is as good).
            let _ = rustls::crypto::CryptoProvider::install_default(provider.as_ref().clone());
            provider
        })
        .clone()
}

fn client_builder() -> reqwest::ClientBuilder {
    tls_provider();
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(Duration::from_secs(10))
        // Every redirect is followed by hand, through this policy.
        .redirect(reqwest::redirect::Policy::none())
        // Idle connections hold descriptors: few, and not for long (a
        // source is polled every few minutes at most).
        .pool_max_idle_per_host(2)
        .pool_idle_timeout(Duration::from_secs(15))
        .gzip(true)
        .brotli(true)
        .deflate(true)
}

/// The HTTP clients every outgoing request is sent with (connection
/// pooling, TLS sessions), and the policy that picks one per request.
/// Cheap to clone; one per process.
#[derive(Clone)]
pub struct Outbound {
    internal: Arc<ArcSwap<Vec<Net>>>,
    /// Connects to public addresses only.
    public: reqwest::Client,
    /// Connects anywhere: for scopes that allow it.
    any: reqwest::Client,
    /// A client per proxy used (sources behind a proxy are few).
    proxied: Arc<Mutex<HashMap<String, reqwest::Client>>>,
}

impl Outbound {
    pub fn new(internal: &[Net]) -> Result<Outbound, reqwest::Error> {
        let internal = Arc::new(ArcSwap::from_pointee(internal.to_vec()));
        Ok(Outbound {
            public: client_builder()
                .dns_resolver(Arc::new(PublicOnly(internal.clone())))
                .build()?,
            any: client_builder().build()?,
            internal,
            proxied: Arc::default(),
        })
    }

    /// After a reload: what is internal now.
    pub fn set_internal(&self, internal: &[Net]) {
        if **self.internal.load() != internal {
            self.internal.store(Arc::new(internal.to_vec()));
        }
    }

    fn internal(&self) -> Arc<Vec<Net>> {
        self.internal.load_full()
    }

    /// Whether `url`'s host is internal: its literal address, or, for a
    /// name, any address it resolves to (an unresolvable name is not:
    /// connecting will fail anyway, and the resolver checks again).
    async fn internal_host(&self, url: &Url) -> Option<IpAddr> {
        let internal = self.internal();
        match url.host()? {
            url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)).filter(|ip| is_internal(*ip, &internal)),
            url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)).filter(|ip| is_internal(*ip, &internal)),
            url::Host::Domain(name) => {
                let port = url.port_or_known_default().unwrap_or(80);
                let addrs = tokio::net::lookup_host((name, port)).await.ok()?;
                addrs.map(|a| a.ip()).find(|ip| is_internal(*ip, &internal))
            }
        }
    }

    /// What a chain of requests starting at `url` may reach.
    pub async fn scope(&self, url: &Url, reach: &Reach) -> Scope {
        match reach {
            Reach::Anywhere => Scope::Anywhere,
            // Internal by the admin's choice: where it leads is trusted too.
            Reach::Configured if !self.is_public(url).await => Scope::Anywhere,
            Reach::Configured => Scope::Public { except: None },
            Reach::Found { within } => {
                let mut except = None;
                if let Some(within) = within
                    && !self.is_public(within).await
                {
                    except = Some(within.origin());
                }
                Scope::Public { except }
            }
        }
    }

    /// Whether `url` has a public address (a name: any of its addresses).
    async fn is_public(&self, url: &Url) -> bool {
        let internal = self.internal();
        match url.host() {
            Some(url::Host::Ipv4(ip)) => !is_internal(IpAddr::V4(ip), &internal),
            Some(url::Host::Ipv6(ip)) => !is_internal(IpAddr::V6(ip), &internal),
            Some(url::Host::Domain(name)) => match tokio::net::lookup_host((name, 0)).await {
                Ok(mut addrs) => addrs.any(|a| !is_internal(a.ip(), &internal)),
                // Unresolvable: the fetch will say so; guard it anyway.
                Err(_) => true,
            },
            None => false,
        }
    }

    /// Checks `url` against `reach` now, names resolved: for refusing a
    /// request at once (a subscription with an internal callback) rather
    /// than when it is sent. Sending checks again.
    pub async fn check(&self, url: &Url, reach: &Reach) -> Result<(), Refused> {
        let scope = self.scope(url, reach).await;
        self.client(url, &scope, None)?;
        match scope {
            Scope::Public { except } if except.as_ref() != Some(&url.origin()) => match self.internal_host(url).await {
                Some(address) => Err(Refused::Internal {
                    url: crate::redact::redacted(url).to_string(),
                    address: address.to_string(),
                }),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// The client for one request of a chain in `scope` (through `proxy`
    /// if given), or why it may not be sent. An address written in the URL
    /// is checked here; a name is checked by the client's resolver.
    pub fn client(&self, url: &Url, scope: &Scope, proxy: Option<&Url>) -> Result<reqwest::Client, Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused::Scheme {
                url: crate::redact::redacted(url).to_string(),
            });
        }
        let open = match scope {
            Scope::Anywhere => true,
            Scope::Public { except } => except.as_ref() == Some(&url.origin()),
        };
        if !open {
            let literal = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if let Some(ip) = literal.filter(|ip| is_internal(*ip, &self.internal())) {
                return Err(Refused::Internal {
                    url: crate::redact::redacted(url).to_string(),
                    address: ip.to_string(),
                });
            }
        }
        if let Some(proxy) = proxy {
            // The proxy resolves names; addresses written in the URL were
            // checked above.
            return Ok(self.proxied_client(proxy).unwrap_or_else(|_| self.public.clone()));
        }
        Ok(if open { self.any.clone() } else { self.public.clone() })
    }

    fn proxied_client(&self, proxy: &Url) -> Result<reqwest::Client, reqwest::Error> {
        let mut clients = self.proxied.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(proxy.as_str()) {
            return Ok(c.clone());
        }
        let client = client_builder().proxy(reqwest::Proxy::all(proxy.as_str())?).build()?;
        clients.insert(proxy.to_string(), client.clone());
        Ok(client)
    }

    /// Builds the client for `proxy` now, so that a bad proxy is an error
    /// of the fetch rather than a silent fallback.
    pub fn check_proxy(&self, proxy: &Url) -> Result<(), reqwest::Error> {
        self.proxied_client(proxy).map(drop)
    }
}

/// Whether credentials meant for `configured` may be sent to `to`: the
/// same scheme, host and port (so never from https to http, nor to
/// another port of the same host).
pub fn credentials_allowed(configured: &Url, to: &Url) -> bool {
    configured.origin() == to.origin()
}

/// Reads at most `limit` bytes of a response's (decompressed) body:
/// `None` when it has more.
pub async fn read_at_most(mut response: reqwest::Response, limit: usize) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Vec<Net> {
        crate::config::DEFAULT_INTERNAL_NETWORKS
            .iter()
            .map(|n| Net::parse(n).unwrap())
            .collect()
    }

    #[test]
    fn every_spelling_of_an_internal_address_is_internal() {
        let internal = defaults();
        for spelling in [
            "127.0.0.2",
            "::1",
            "::ffff:127.0.0.2",
            "::127.0.0.1",
            "::ffff:0:127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::10.0.0.1",
            "64:ff9b:1::a00:1",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            "fe80::1",
            "fd00::1",
        ] {
            let ip: IpAddr = spelling.parse().unwrap();
            assert!(is_internal(ip, &internal), "{spelling} passed as public");
        }
        for public in [
            "93.184.216.34",
            "2606:2800:220:1::",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
        ] {
            let ip: IpAddr = public.parse().unwrap();
            assert!(!is_internal(ip, &internal), "{public} taken for internal");
        }
    }

    #[test]
    fn a_decimal_host_is_the_address_it_spells() {
        let url = Url::parse("http://2130706434:8080/x").unwrap();
        assert_eq!(url.host(), Some(url::Host::Ipv4(Ipv4Addr::new(127, 0, 0, 2))));
    }

    #[test]
    fn credentials_stay_on_their_origin() {
        let from = Url::parse("https://feeds.example/a").unwrap();
        for (to, ok) in [
            ("https://feeds.example/b", true),
            ("https://feeds.example:443/b", true),
            ("http://feeds.example/b", false),
            ("https://feeds.example:8443/b", false),
            ("https://other.example/b", false),
        ] {
            assert_eq!(credentials_allowed(&from, &Url::parse(to).unwrap()), ok, "{to}");
        }
    }

    #[tokio::test]
    async fn found_urls_are_public_unless_on_an_internal_configured_origin() {
        let outbound = Outbound::new(&[Net::parse("127.0.0.2/32").unwrap()]).unwrap();
        let internal_source = Url::parse("http://127.0.0.2:9000/feed").unwrap();
        let public_source = Url::parse("http://127.0.0.1:9000/feed").unwrap();
        let link = Url::parse("http://127.0.0.2:9000/article").unwrap();
        let other_port = Url::parse("http://127.0.0.2:9001/article").unwrap();
        let scope = |within: &Url| {
            let reach = Reach::Found {
                within: Some(within.clone()),
            };
            let outbound = outbound.clone();
            async move { outbound.scope(&Url::parse("http://x/").unwrap(), &reach).await }
        };
        let from_public = scope(&public_source).await;
        assert!(outbound.client(&link, &from_public, None).is_err());
        let from_internal = scope(&internal_source).await;
        assert!(outbound.client(&link, &from_internal, None).is_ok());
        assert!(outbound.client(&other_port, &from_internal, None).is_err());
        assert_eq!(
            outbound.scope(&internal_source, &Reach::Configured).await,
            Scope::Anywhere
        );
    }
}
