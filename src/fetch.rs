//! Fetching a source's document, politely: conditional GET with exactly the
//! validators the origin gave, gzip/brotli, one timeout for the whole fetch
//! (redirects and body included), a body cap enforced while streaming,
//! redirects followed by hand (so a permanent move can be reported, and
//! each hop goes through the [`crate::outbound`] policy: a public source
//! cannot send thau to an internal address, credentials stay on their
//! origin), and `Retry-After` understood. Local files are fetched too,
//! with their size and mtime as validator. Depends on `config` and
//! `outbound`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use url::Url;

use crate::config::{Location, Net, PollConfig, Source};
pub use crate::outbound::USER_AGENT;
use crate::outbound::{Outbound, Reach, Refused};
const MAX_REDIRECTS: usize = 5;

/// What the origin gave us last time, sent back verbatim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Debug)]
pub enum Fetched {
    /// 304, or a file whose size and mtime did not change.
    NotModified,
    Document(Document),
}

#[derive(Debug)]
pub struct Document {
    /// The body, decompressed, at most `max_body` bytes.
    pub body: Vec<u8>,
    /// `Content-Type` as sent (its charset matters to decoding).
    pub content_type: Option<String>,
    /// Where the document really came from, after redirects (None for files).
    pub url: Option<Url>,
    pub validators: Validators,
}

#[derive(Debug)]
pub struct FetchOutput {
    pub fetched: Fetched,
    /// Until when the origin says the document stays fresh.
    pub fresh_until: Option<DateTime<Utc>>,
    /// Set when every redirect on the way was permanent (301/308).
    pub permanent_redirect: Option<Url>,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("timed out after {}s", .0.as_secs_f32())]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("gone (HTTP 410): the publisher removed this feed")]
    Gone,
    #[error("HTTP {status}{}", retry_after.map(|t| format!(", retry after {}", t.to_rfc3339())).unwrap_or_default())]
    Status {
        status: StatusCode,
        /// From `Retry-After` on 429/503.
        retry_after: Option<DateTime<Utc>>,
    },
    #[error("body larger than the {limit} byte limit (poll.max_body)")]
    TooLarge { limit: u64 },
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
    #[error("redirect without a usable Location header")]
    BadRedirect,
    #[error("reading the body failed: {0}")]
    Body(String),
    #[error(
        "refused a redirect from a public address to an internal one ({0}); configure that address directly if it is wanted"
    )]
    InternalRedirect(String),
    #[error("refused: {0}")]
    Refused(Refused),
    #[error("cannot read {}: {source}", path.display())]
    File { path: PathBuf, source: std::io::Error },
}

impl FetchError {
    pub fn retry_after(&self) -> Option<DateTime<Utc>> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// What one fetch may take: `[poll]` `timeout` (the whole fetch: every
/// redirect and the body) and `max_body`, and where a public source may
/// not lead. Given per fetch, so a reload applies to the next poll.
#[derive(Debug, Clone)]
pub struct Limits {
    pub timeout: Duration,
    pub max_body: u64,
    pub internal: Arc<[Net]>,
    /// The source's own request headers (`headers`, `auth`): sent to its
    /// host only, never to another host a redirect leads to.
    pub headers: Arc<[(String, String)]>,
    /// The proxy to go through, if any.
    pub proxy: Option<Url>,
    /// Who vouches for the URL fetched: what it may reach.
    pub reach: Reach,
}

impl Limits {
    /// How `source` is polled: `[poll]`'s limits, its headers and proxy.
    pub fn for_source(poll: &PollConfig, source: &Source) -> Limits {
        Limits {
            headers: source
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.0.clone()))
                .collect::<Vec<_>>()
                .into(),
            proxy: source.proxy.clone(),
            reach: Reach::Configured,
            ..Limits::plain(poll.timeout, poll.max_body, poll.internal_networks.clone())
        }
    }

    /// Limits without headers or proxy, for a URL found in content
    /// (public addresses only): set `reach` for any other.
    pub fn plain(timeout: Duration, max_body: u64, internal: Arc<[Net]>) -> Limits {
        Limits {
            timeout,
            max_body,
            internal,
            headers: Arc::new([]),
            proxy: None,
            reach: Reach::Found { within: None },
        }
    }
}

/// The fetcher every poll shares: its requests go through the
/// [`Outbound`] policy.
#[derive(Clone)]
pub struct Fetcher {
    outbound: Outbound,
}

impl Fetcher {
    pub fn new(outbound: Outbound) -> Fetcher {
        Fetcher { outbound }
    }

    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    pub async fn fetch(
        &self,
        location: &Location,
        validators: &Validators,
        limits: Limits,
    ) -> Result<FetchOutput, FetchError> {
        match location {
            Location::Url(url) => {
                // One deadline for the whole fetch: a chain of slow
                // redirects used to take up to six times the timeout.
                match tokio::time::timeout(limits.timeout, self.fetch_url(url.clone(), validators, &limits)).await {
                    Ok(fetched) => fetched,
                    Err(_) => Err(FetchError::Timeout(limits.timeout)),
                }
            }
            Location::File(path) => fetch_file(path, validators, &limits).await,
        }
    }

    async fn fetch_url(
        &self,
        mut url: Url,
        validators: &Validators,
        limits: &Limits,
    ) -> Result<FetchOutput, FetchError> {
        self.outbound.set_internal(&limits.internal);
        if let Some(proxy) = &limits.proxy {
            self.outbound.check_proxy(proxy).map_err(|e| describe(e, limits))?;
        }
        let scope = self.outbound.scope(&url, &limits.reach).await;
        let origin = url.clone();
        let mut all_permanent = true;
        let mut hops = 0;
        let response = loop {
            let client = self
                .outbound
                .client(&url, &scope, limits.proxy.as_ref())
                .map_err(|refused| match hops {
                    0 => FetchError::Refused(refused),
                    _ => FetchError::InternalRedirect(crate::redact::redacted(&url).to_string()),
                })?;
            let mut request = client.get(url.clone()).timeout(limits.timeout);
            // Credentials (the URL's own and the configured headers) go to
            // the origin they were given for only.
            if crate::outbound::credentials_allowed(&origin, &url) {
                for (name, value) in limits.headers.iter() {
                    request = request.header(name.as_str(), value.as_str());
                }
            }
            if let Some(etag) = &validators.etag {
                request = request.header(header::IF_NONE_MATCH, etag);
            }
            if let Some(lm) = &validators.last_modified {
                request = request.header(header::IF_MODIFIED_SINCE, lm);
            }
            let response = request.send().await.map_err(|e| describe(e, limits))?;
            let status = response.status();
            if !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
                break response;
            }
            hops += 1;
            if hops > MAX_REDIRECTS {
                return Err(FetchError::TooManyRedirects);
            }
            all_permanent &= matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::PERMANENT_REDIRECT);
            url = response
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok())
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or(FetchError::BadRedirect)?;
            if !crate::outbound::credentials_allowed(&origin, &url) {
                // A relative Location keeps the base's user and password.
                let _ = url.set_username("");
                let _ = url.set_password(None);
            }
        };
        let permanent_redirect = (hops > 0 && all_permanent).then(|| url.clone());
        let fresh_until = freshness(response.headers(), Utc::now());

        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(FetchOutput {
                fetched: Fetched::NotModified,
                fresh_until,
                permanent_redirect,
            });
        }
        if status == StatusCode::GONE {
            return Err(FetchError::Gone);
        }
        if !status.is_success() {
            let retry_after = match status {
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                    retry_after(response.headers(), Utc::now())
                }
                _ => None,
            };
            return Err(FetchError::Status { status, retry_after });
        }

        let headers = response.headers();
        let header_str = |name| {
            headers
                .get(name)
                .and_then(|v: &header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header_str(header::CONTENT_TYPE);
        let validators = Validators {
            etag: header_str(header::ETAG),
            last_modified: header_str(header::LAST_MODIFIED),
        };
        if response.content_length().is_some_and(|n| n > limits.max_body) {
            return Err(FetchError::TooLarge { limit: limits.max_body });
        }
        let body = read_capped(response, limits).await?;
        Ok(FetchOutput {
            fetched: Fetched::Document(Document {
                body,
                content_type,
                url: Some(url),
                validators,
            }),
            fresh_until,
            permanent_redirect,
        })
    }
}

/// Reads the (decompressed) body chunk by chunk, failing as soon as it
/// passes the cap: a huge body is never held in memory.
async fn read_capped(mut response: reqwest::Response, limits: &Limits) -> Result<Vec<u8>, FetchError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(e, limits))? {
        if body.len() as u64 + chunk.len() as u64 > limits.max_body {
            return Err(FetchError::TooLarge { limit: limits.max_body });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn fetch_file(path: &Path, validators: &Validators, limits: &Limits) -> Result<FetchOutput, FetchError> {
    let file_error = |source| FetchError::File {
        path: path.to_owned(),
        source,
    };
    let meta = tokio::fs::metadata(path).await.map_err(file_error)?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let etag = format!("file:{}:{mtime}", meta.len());
    if validators.etag.as_deref() == Some(etag.as_str()) {
        return Ok(FetchOutput {
            fetched: Fetched::NotModified,
            fresh_until: None,
            permanent_redirect: None,
        });
    }
    if meta.len() > limits.max_body {
        return Err(FetchError::TooLarge { limit: limits.max_body });
    }
    let body = tokio::fs::read(path).await.map_err(file_error)?;
    if body.len() as u64 > limits.max_body {
        return Err(FetchError::TooLarge { limit: limits.max_body });
    }
    Ok(FetchOutput {
        fetched: Fetched::Document(Document {
            body,
            content_type: None,
            url: None,
            validators: Validators {
                etag: Some(etag),
                last_modified: None,
            },
        }),
        fresh_until: None,
        permanent_redirect: None,
    })
}

fn describe(e: reqwest::Error, limits: &Limits) -> FetchError {
    if e.is_timeout() {
        return FetchError::Timeout(limits.timeout);
    }
    // The outermost message is generic ("error sending request"); the
    // innermost cause says what happened.
    let mut cause: &dyn std::error::Error = &e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    if e.is_connect() || e.is_request() {
        FetchError::Connect(cause.to_string())
    } else {
        FetchError::Body(cause.to_string())
    }
}

/// `Cache-Control: max-age` (or `s-maxage`), else `Expires`; none for
/// `no-cache`/`no-store`.
fn freshness(headers: &HeaderMap, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let cc = headers
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut max_age = None;
    for directive in cc.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-cache" || lower == "no-store" {
            return None;
        }
        if let Some(v) = lower
            .strip_prefix("max-age=")
            .or_else(|| lower.strip_prefix("s-maxage="))
        {
            max_age = v.trim_matches('"').parse::<u32>().ok().or(max_age);
        }
    }
    if let Some(secs) = max_age {
        return Some(now + chrono::Duration::seconds(i64::from(secs)));
    }
    let expires = headers.get(header::EXPIRES)?.to_str().ok()?;
    DateTime::parse_from_rfc2822(expires)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `Retry-After` as delay-seconds or an HTTP date.
fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u32>() {
        return Some(now + chrono::Duration::seconds(i64::from(secs)));
    }
    DateTime::parse_from_rfc2822(value).ok().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_from_cache_control_or_expires() {
        let now = DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut h = HeaderMap::new();
        h.insert(header::CACHE_CONTROL, "public, max-age=600".parse().unwrap());
        assert_eq!(freshness(&h, now), Some(now + chrono::Duration::seconds(600)));
        h.insert(header::CACHE_CONTROL, "no-cache, max-age=600".parse().unwrap());
        assert_eq!(freshness(&h, now), None);
        h.remove(header::CACHE_CONTROL);
        h.insert(header::EXPIRES, "Wed, 25 Nov 2026 12:00:00 GMT".parse().unwrap());
        assert_eq!(freshness(&h, now), Some(now + chrono::Duration::hours(2)));
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, "120".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(now + chrono::Duration::seconds(120)));
        h.insert(header::RETRY_AFTER, "Wed, 25 Nov 2026 11:00:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(now + chrono::Duration::hours(1)));
        h.insert(header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h, now), None);
    }
}
