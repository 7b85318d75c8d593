//! HTTP: `serve(listeners, state, stop)` and the `router` behind it. Section
//! feeds are served from the bytes the [`Site`] rendered and compressed when
//! the section changed. `?limit`/`?since` variants are rendered on request,
//! but never on the serving threads: on the blocking pool, a few at a time,
//! and kept with the site until it changes. Strong ETags, `Last-Modified`,
//! 304s, gzip and brotli negotiation, HEAD. Depends on `site`, `publish`,
//! `store`.

use std::convert::Infallible;
use std::future::Ready;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, SubsecRound, Utc};
use futures_util::future::Either;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, oneshot, watch};
use tower_service::Service;
use tracing::{debug, warn};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::model::FetchState;
use crate::pipeline::PollReport;
use crate::publish::{self, Format, SourceStatus};
use crate::schedule;
use crate::scheduler::PollLog;
use crate::site::{Doc, Site, VariantKey};
use crate::store::Store;

/// What handlers read. The site and the config are swapped whole (without
/// locks: requests load a snapshot) when a poll or a reload changed them.
pub struct AppState {
    pub store: Arc<Store>,
    pub config: Arc<ArcSwap<Config>>,
    pub site: ArcSwap<Site>,
    /// Why the file on disk is not the running config, when it is invalid.
    pub config_error: ArcSwap<Option<String>>,
    /// Polls asked for through the admin API.
    pub admin: mpsc::Sender<AdminRequest>,
    pub metrics: Arc<Metrics>,
    /// Feed variants being rendered at once, on the blocking pool.
    pub renders: tokio::sync::Semaphore,
    /// What recent polls said (also what the store could not record).
    pub polls: Arc<PollLog>,
    /// The WebSub hub of the feeds.
    pub hub: Arc<crate::websub::Hub>,
    /// thau subscribing to its sources' hubs.
    pub subscriber: Arc<crate::websub::subscriber::Subscriber>,
    /// Told when something was stored outside a poll (a push).
    pub changed: Arc<tokio::sync::Notify>,
}

/// `?limit`/`?since` variants rendered at once: the serving threads never
/// render, and a burst of variant requests cannot take every core.
pub const VARIANT_RENDERS: usize = 2;

/// "Poll this source now", answered with what the poll did.
pub struct AdminRequest {
    pub source: String,
    pub reply: oneshot::Sender<Result<PollReport, AdminError>>,
}

#[derive(Debug)]
pub enum AdminError {
    UnknownSource,
    Busy(String),
}

impl AppState {
    fn site(&self) -> Arc<Site> {
        self.site.load_full()
    }

    fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(front_page))
        .route("/status", get(index))
        .route("/feed.xml", get(section_feed))
        .route("/atom.xml", get(section_feed))
        .route("/feed.json", get(section_feed))
        .route("/sections.opml", get(opml))
        .route("/sections/{*rest}", get(section_feed))
        .route("/stories/{file}", get(story_page))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/sources", get(api_sources))
        .route("/api/sources/{name}/poll", post(admin_poll))
        .route("/websub", post(websub))
        .route("/websub/callback/{source}", get(websub_verify).post(websub_push))
        .route(
            "/websub/callback/{source}/{token}",
            get(websub_verify_token).post(websub_push_token),
        )
        .fallback(|| async { plain(StatusCode::NOT_FOUND, "not found\n") })
        .with_state(state)
}

/// The listening sockets: on Linux one per core, all bound to one address
/// with `SO_REUSEPORT`, so that the kernel spreads new connections among
/// them and each [`serve`] lane accepts its own, as nginx's workers do with
/// `reuseport`. Elsewhere (where `SO_REUSEPORT` does not spread), one.
pub struct Listeners(Vec<std::net::TcpListener>);

impl Listeners {
    /// Binds `addr` (port 0: a free port). Fails with `AddrInUse` when
    /// another socket listens there, even one that set `SO_REUSEPORT` (a
    /// second thau, say), which would otherwise share our connections.
    /// Must be called within the runtime.
    pub fn bind(addr: SocketAddr) -> io::Result<Listeners> {
        let new_socket = || {
            let socket = if addr.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            socket.set_reuseaddr(true)?;
            Ok::<_, io::Error>(socket)
        };
        // A plain bind claims the port, or fails if anyone listens on it.
        let addr = {
            let probe = new_socket()?;
            probe.bind(addr)?;
            probe.local_addr()?
        };
        let count = if cfg!(target_os = "linux") {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            1
        };
        let mut sockets = Vec::with_capacity(count);
        for _ in 0..count {
            let socket = new_socket()?;
            #[cfg(target_os = "linux")]
            socket.set_reuseport(true)?;
            // Feed responses go out in one write; do not let Nagle hold them.
            // Accepted sockets inherit it: no system call per connection.
            socket.set_nodelay(true)?;
            socket.bind(addr)?;
            sockets.push(socket.listen(1024)?.into_std()?);
        }
        Ok(Listeners(sockets))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0[0].local_addr()
    }
}

/// Serves HTTP/1.1 on `listeners` until `stop` turns true, then lets the
/// requests in progress finish (idle keep-alive connections are closed).
///
/// Feed requests — the hot path, answered from memory — skip the router;
/// everything else goes through [`router`]. Plain HTTP/1.1 like a static
/// host: no h2c upgrade sniffing per connection.
///
/// Each listener has its lane: a thread with its own single-threaded
/// runtime that accepts and serves its connections, so a request never
/// wakes another thread. (On tokio's shared scheduler, each new connection
/// took four more system calls than nginx's; see BENCHMARKS.md.) Errors
/// only if the lanes cannot start.
pub async fn serve(
    listeners: Listeners,
    state: Arc<AppState>,
    stop: watch::Receiver<bool>,
    max_connections: usize,
) -> io::Result<()> {
    let service = Http {
        router: router(state.clone()),
        state,
    };
    // Shared by the lanes: past it, connections wait in the listen backlog
    // (and idle ones close after HEADER_READ_TIMEOUT), so clients can never
    // take the descriptors the store and the polls need.
    let limits = Arc::new(Connections::new(max_connections));
    let mut lanes = Vec::with_capacity(listeners.0.len());
    for (index, listener) in listeners.0.into_iter().enumerate() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (service, stop, limits) = (service.clone(), stop.clone(), limits.clone());
        let (done, finished) = oneshot::channel();
        std::thread::Builder::new()
            .name(format!("thau-http-{index}"))
            .spawn(move || {
                runtime.block_on(lane(listener, service, stop, limits));
                let _ = done.send(());
            })?;
        lanes.push(finished);
    }
    for finished in lanes {
        let _ = finished.await;
    }
    Ok(())
}

/// The connections thau keeps open at once: `max` in all, plus a few
/// in reserve for when idle clients hold them all (a monitor's `/healthz`,
/// an admin's request): those serve one request each and close. Near the
/// limit, idle keep-alive connections are asked to close, so a new
/// client waits for no timeout.
struct Connections {
    main: Arc<tokio::sync::Semaphore>,
    reserve: Arc<tokio::sync::Semaphore>,
    /// Raised when few connections are left: idle ones close.
    pressure: watch::Sender<u64>,
    /// Below this many free connections, the pressure is raised.
    low: usize,
}

/// Connections kept for when the others are all taken.
const RESERVE_CONNECTIONS: usize = 4;

impl Connections {
    fn new(max: usize) -> Connections {
        let max = max.max(1);
        Connections {
            main: Arc::new(tokio::sync::Semaphore::new(max)),
            reserve: Arc::new(tokio::sync::Semaphore::new(RESERVE_CONNECTIONS)),
            pressure: watch::channel(0).0,
            low: (max / 8).max(1),
        }
    }

    /// A place for the next connection: a main one, else a reserve one
    /// (`true`), waiting for either.
    async fn acquire(&self) -> Option<(tokio::sync::OwnedSemaphorePermit, bool)> {
        if let Ok(permit) = self.main.clone().try_acquire_owned() {
            if self.main.available_permits() < self.low {
                self.pressure.send_modify(|n| *n += 1);
            }
            return Some((permit, false));
        }
        self.pressure.send_modify(|n| *n += 1);
        tokio::select! {
            permit = self.main.clone().acquire_owned() => permit.ok().map(|p| (p, false)),
            permit = self.reserve.clone().acquire_owned() => permit.ok().map(|p| (p, true)),
        }
    }
}

async fn lane(
    listener: std::net::TcpListener,
    service: Http,
    mut stop: watch::Receiver<bool>,
    limits: Arc<Connections>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => return warn!("cannot listen: {e}"),
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    // A client that opens a connection and sends nothing (or a request head
    // byte by byte) must not hold it forever.
    http.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    // A reserve connection: one request, sent promptly.
    let mut reserve = http.clone();
    reserve.keep_alive(false).header_read_timeout(RESERVE_HEADER_TIMEOUT);
    let open = Arc::new(tokio::sync::Semaphore::new(0));
    let mut spawned = 0u32;
    loop {
        let (permit, reserved) = tokio::select! {
            permit = limits.acquire() => match permit {
                Some(permit) => permit,
                None => break,
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors, most likely: wait, do not spin.
                    warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let builder = if reserved { &reserve } else { &http };
        let conn = builder.serve_connection(TokioIo::new(tcp), service.clone());
        let (mut stop, mut pressure, open) = (stop.clone(), limits.pressure.subscribe(), open.clone());
        spawned += 1;
        tokio::spawn(async move {
            let mut conn = std::pin::pin!(conn);
            // Asked to close (shutdown, or few connections left): an idle
            // connection closes now, a busy one after its response.
            let ended = tokio::select! {
                ended = conn.as_mut() => Some(ended),
                _ = stop.wait_for(|s| *s) => None,
                _ = pressure.changed() => None,
            };
            let ended = match ended {
                Some(ended) => ended,
                None => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                debug!("connection ended: {e}");
            }
            drop(permit);
            open.add_permits(1);
        });
    }
    drop(listener);
    // Every connection gives a permit back when it ends.
    let drained = async {
        let _ = open.acquire_many(spawned).await;
    };
    if tokio::time::timeout(DRAIN_TIMEOUT, drained).await.is_err() {
        warn!("requests still in progress after {}s: dropped", DRAIN_TIMEOUT.as_secs());
    }
}

const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
const RESERVE_HEADER_TIMEOUT: Duration = Duration::from_secs(5);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection's service: the feed fast path, else the router.
#[derive(Clone)]
struct Http {
    state: Arc<AppState>,
    router: Router,
}

type Routed = std::pin::Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl hyper::service::Service<hyper::Request<Incoming>> for Http {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, Routed>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        let feed = matches!(*request.method(), Method::GET | Method::HEAD) && is_feed_path(request.uri().path());
        if feed {
            return match feed_response(&self.state, request.uri(), request.headers()) {
                FeedAnswer::Now(response) => Either::Left(std::future::ready(Ok(response))),
                FeedAnswer::Render(render) => {
                    let state = self.state.clone();
                    let headers = request.headers().clone();
                    Either::Right(Box::pin(
                        async move { Ok(render_variant(state, render, headers).await) },
                    ))
                }
                FeedAnswer::Archive(page) => {
                    let state = self.state.clone();
                    let headers = request.headers().clone();
                    Either::Right(Box::pin(async move { Ok(archive_page(state, page, headers).await) }))
                }
            };
        }
        let mut router = self.router.clone();
        Either::Right(Box::pin(async move { router.call(request.map(Body::new)).await }))
    }
}

/// Whether `path` names a feed (served from memory without the router):
/// `/sections/{slug}/{file}` or an "all sections" feed, not a page.
fn is_feed_path(path: &str) -> bool {
    match path.strip_prefix("/sections/") {
        Some(rest) => rest.split_once('/').is_some_and(|(_, file)| !file.is_empty()),
        None => matches!(path, "/feed.xml" | "/atom.xml" | "/feed.json"),
    }
}

/// `/sections/{slug}/{file}`, and the "all sections" feed (`/feed.xml`,
/// `/atom.xml`, `/feed.json`). `/sections/{slug}/` is the section's page.
/// Takes the request whole: feed requests are the hot path, and extractors
/// would copy the path and the headers.
async fn section_feed(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let path = request.uri().path();
    if let Some(slug) = path.strip_prefix("/sections/").and_then(|r| r.strip_suffix('/'))
        && !slug.contains('/')
    {
        let slug = slug.to_string();
        return off_lane(state, move |state| section_page(state, &slug)).await;
    }
    if let Some(slug) = path
        .strip_prefix("/sections/")
        .filter(|r| !r.is_empty() && !r.contains('/'))
    {
        // `/sections/sete`: the page is `/sections/sete/`.
        let mut r = plain(StatusCode::MOVED_PERMANENTLY, "moved\n");
        if let Ok(to) = HeaderValue::from_str(&format!("/sections/{slug}/")) {
            r.headers_mut().insert(header::LOCATION, to);
        }
        return r;
    }
    match feed_response(&state, request.uri(), request.headers()) {
        FeedAnswer::Now(response) => response,
        FeedAnswer::Render(render) => render_variant(state.clone(), render, request.headers().clone()).await,
        FeedAnswer::Archive(page) => archive_page(state.clone(), page, request.headers().clone()).await,
    }
}

/// A feed request answered from memory, or a variant or an archive page
/// to render first.
enum FeedAnswer {
    Now(Response),
    Render(VariantKey),
    Archive(ArchiveRequest),
}

/// `/sections/{slug}/archive/{n}.{xml,atom,json}`.
struct ArchiveRequest {
    slug: String,
    n: u32,
    format: Format,
}

/// Archive pages change only when a story is pruned: cached for a week.
const ARCHIVE_CACHE_CONTROL: HeaderValue = HeaderValue::from_static("public, max-age=604800");

/// Serves an archive page, reading and rendering it off the serving
/// threads the first time.
async fn archive_page(state: Arc<AppState>, page: ArchiveRequest, headers: HeaderMap) -> Response {
    let site = state.site.load_full();
    let store = state.store.clone();
    let rendered = {
        let site = site.clone();
        tokio::task::spawn_blocking(move || site.archive_page(&store, &page.slug, page.n, page.format)).await
    };
    match rendered {
        Ok(Ok(Some(doc))) => serve_doc(&doc, &headers, &ARCHIVE_CACHE_CONTROL),
        Ok(Ok(None)) => plain(StatusCode::NOT_FOUND, "no such archive page\n"),
        Ok(Err(e)) => {
            warn!(error = %e, "reading an archive page failed");
            plain(StatusCode::SERVICE_UNAVAILABLE, "the store cannot be read\n")
        }
        Err(e) => {
            warn!(error = %e, "rendering an archive page failed");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n")
        }
    }
}

fn feed_response(state: &AppState, uri: &Uri, headers: &HeaderMap) -> FeedAnswer {
    let site = state.site.load();
    let (path, query) = (uri.path(), uri.query());
    let not_found = |message: &str| FeedAnswer::Now(plain(StatusCode::NOT_FOUND, message));
    if !site.ready {
        return FeedAnswer::Now(starting());
    }
    let (slug, section, format) = match Format::ALL
        .into_iter()
        .find(|f| path.strip_prefix('/') == Some(f.all_file_name()))
    {
        Some(format) => match &site.all {
            Some(all) => ("", all, format),
            None => return not_found("not found\n"),
        },
        None => {
            let Some((slug, file)) = path.strip_prefix("/sections/").and_then(|r| r.split_once('/')) else {
                return not_found("not found\n");
            };
            let Some(section) = site.section(slug) else {
                return not_found(&format!("no section \"{slug}\"\n"));
            };
            if let Some(page) = file.strip_prefix("archive/") {
                let parsed = page.split_once('.').and_then(|(n, ext)| {
                    // One spelling per page: digits only (no sign), no leading zero.
                    let digits = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !n.starts_with('0');
                    let n = n.parse::<u32>().ok().filter(|_| digits)?;
                    let format = Format::ALL.into_iter().find(|f| f.archive_extension() == ext)?;
                    Some((n, format))
                });
                return match parsed {
                    Some((n, format)) => FeedAnswer::Archive(ArchiveRequest {
                        slug: slug.to_string(),
                        n,
                        format,
                    }),
                    None => not_found("archive pages are archive/{n}.xml (RSS), .atom and .json\n"),
                };
            }
            if let Some(format) = Format::ALL.into_iter().find(|f| f.digest_file_name() == file) {
                // One document per section: ?limit and ?since do not apply.
                return match section.digest.get(&format) {
                    Some(doc) => FeedAnswer::Now(serve_doc(doc, headers, &site.cache_control)),
                    None => not_found(&format!("section \"{slug}\" has no digest (set digest = \"daily\")\n")),
                };
            }
            let Some(format) = Format::ALL.into_iter().find(|f| f.file_name() == file) else {
                return not_found("section feeds are rss.xml, atom.xml and feed.json\n");
            };
            (slug, section, format)
        }
    };
    let params = match FeedParams::parse(query, site.max_page_size) {
        Ok(p) => p,
        Err(message) => return FeedAnswer::Now(plain(StatusCode::BAD_REQUEST, &format!("{message}\n"))),
    };
    if params.is_default(site.page_size) {
        return FeedAnswer::Now(serve_doc(&section.feeds[&format], headers, &site.cache_control));
    }
    let key = VariantKey {
        slug: slug.to_string(),
        format,
        limit: params.limit.unwrap_or(site.page_size),
        since: params.since,
    };
    match site.variants.get(&key) {
        Some(doc) => FeedAnswer::Now(serve_doc(&doc, headers, &site.cache_control)),
        None => FeedAnswer::Render(key),
    }
}

/// Renders a `?limit`/`?since` variant away from the serving threads (on
/// the blocking pool, [`VARIANT_RENDERS`] at a time), keeps it with the
/// site until the next republish, and serves it.
async fn render_variant(state: Arc<AppState>, key: VariantKey, headers: HeaderMap) -> Response {
    let Ok(_turn) = state.renders.acquire().await else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
    };
    let site = state.site.load_full();
    // Another request may have rendered it while this one waited.
    if let Some(doc) = site.variants.get(&key) {
        return serve_doc(&doc, &headers, &site.cache_control);
    }
    let rendered = {
        let (site, key) = (site.clone(), key.clone());
        tokio::task::spawn_blocking(move || site.render_variant(&key)).await
    };
    match rendered {
        Ok(Some(doc)) => {
            let doc = site.variants.insert(key, doc);
            serve_doc(&doc, &headers, &site.cache_control)
        }
        Ok(None) => plain(StatusCode::NOT_FOUND, "no such section\n"),
        Err(e) => {
            warn!(error = %e, "rendering a feed variant failed");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n")
        }
    }
}

#[derive(Debug, Default)]
struct FeedParams {
    limit: Option<usize>,
    since: Option<DateTime<Utc>>,
}

impl FeedParams {
    fn parse(query: Option<&str>, max: usize) -> Result<FeedParams, String> {
        let mut params = FeedParams::default();
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "limit" => {
                    let n = v.parse::<usize>().ok().filter(|n| (1..=max).contains(n));
                    params.limit = Some(n.ok_or(format!("limit must be an integer from 1 to {max}, not \"{v}\""))?);
                }
                "since" => {
                    // An unencoded `+01:00` arrives as a space.
                    let t = DateTime::parse_from_rfc3339(&v)
                        .or_else(|e| DateTime::parse_from_rfc3339(&v.replace(' ', "+")).map_err(|_| e))
                        .map_err(|_| {
                            format!("since must be an RFC 3339 date such as 2026-11-25T08:00:00Z, not \"{v}\"")
                        })?;
                    params.since = Some(t.with_timezone(&Utc));
                }
                _ => {}
            }
        }
        Ok(params)
    }

    fn is_default(&self, page_size: usize) -> bool {
        self.since.is_none() && self.limit.is_none_or(|l| l == page_size)
    }
}

/// One concrete response body.
struct Variant<'a> {
    content_type: &'static str,
    body: Bytes,
    encoding: Option<&'static str>,
    etag: &'a HeaderValue,
    last_modified: (DateTime<Utc>, &'a HeaderValue),
    link: Option<&'a HeaderValue>,
}

fn serve_doc(doc: &Doc, headers: &HeaderMap, cache_control: &HeaderValue) -> Response {
    // Each encoding is its own representation, with its own strong ETag.
    let (body, encoding, etag) = match preferred_encoding(headers) {
        Encoding::Brotli if !doc.brotli.is_empty() => (doc.brotli.clone(), Some("br"), &doc.etags[2]),
        Encoding::Gzip | Encoding::Brotli if !doc.gzip.is_empty() => (doc.gzip.clone(), Some("gzip"), &doc.etags[1]),
        _ => (doc.identity.clone(), None, &doc.etags[0]),
    };
    respond(
        headers,
        Variant {
            content_type: doc.content_type,
            body,
            encoding,
            etag,
            last_modified: (doc.last_modified, &doc.last_modified_header),
            link: doc.link.as_ref(),
        },
        cache_control,
    )
}

fn respond(request: &HeaderMap, v: Variant<'_>, cache_control: &HeaderValue) -> Response {
    let not_modified = match request.get(header::IF_NONE_MATCH) {
        Some(tags) => etag_matches(tags.as_bytes(), v.etag.as_bytes()),
        None => request
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|h| h.to_str().ok())
            .and_then(|s| DateTime::parse_from_rfc2822(s).ok())
            .is_some_and(|since| v.last_modified.0 <= since),
    };
    let mut response = if not_modified {
        (StatusCode::NOT_MODIFIED, Body::empty()).into_response()
    } else {
        let mut r = (StatusCode::OK, Body::from(v.body)).into_response();
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(v.content_type));
        if let Some(enc) = v.encoding {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
        }
        // Feeds are public: browser readers and JSON Feed clients may fetch
        // them. (Not on a 304: the browser keeps the headers of the 200.)
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        if let Some(link) = v.link {
            h.insert(header::LINK, link.clone());
        }
        r
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, v.etag.clone());
    h.insert(header::LAST_MODIFIED, v.last_modified.1.clone());
    h.insert(header::CACHE_CONTROL, cache_control.clone());
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    response
}

/// `If-None-Match` uses the weak comparison; a tag of another encoding of
/// the same bytes matches too (the client already has this content).
fn etag_matches(header: &[u8], etag: &[u8]) -> bool {
    fn opaque(t: &[u8]) -> &[u8] {
        let t = t.trim_ascii();
        let t = t.strip_prefix(b"W/").unwrap_or(t);
        let t = t.strip_prefix(b"\"").unwrap_or(t);
        let t = t.strip_suffix(b"\"").unwrap_or(t);
        t.strip_suffix(b"-gz").or_else(|| t.strip_suffix(b"-br")).unwrap_or(t)
    }
    let ours = opaque(etag);
    header
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii() == b"*" || opaque(t) == ours)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

fn preferred_encoding(headers: &HeaderMap) -> Encoding {
    let Some(accept) = headers.get(header::ACCEPT_ENCODING).and_then(|h| h.to_str().ok()) else {
        return Encoding::Identity;
    };
    // The weight of each coding named (`*` stands for the others).
    let (mut br, mut gzip, mut any) = (None, None, None);
    for part in accept.split(',') {
        let mut it = part.split(';');
        let name = it.next().unwrap_or("").trim();
        let weight = it
            .find_map(|p| p.trim().strip_prefix("q=").and_then(|v| v.trim().parse::<f32>().ok()))
            .unwrap_or(1.0);
        if name.eq_ignore_ascii_case("br") {
            br = Some(weight);
        } else if name.eq_ignore_ascii_case("gzip") {
            gzip = Some(weight);
        } else if name == "*" {
            any = Some(weight);
        }
    }
    let accepts = |w: Option<f32>| w.or(any).is_some_and(|w| w > 0.0);
    if accepts(br) {
        Encoding::Brotli
    } else if accepts(gzip) {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

/// While the site is first rendered (seconds, on a large store).
fn starting() -> Response {
    let mut r = plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "thau is starting: the feeds are being rendered\n",
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    r
}

async fn opml(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let site = state.site();
    if !site.ready {
        return starting();
    }
    serve_doc(&site.opml, &headers, &site.cache_control)
}

/// Runs `page` on the blocking pool: the status pages read every source's
/// state from the store (10,000 reads on a large desk), and the reading
/// pages render; neither may hold a serving thread.
async fn off_lane(state: Arc<AppState>, page: impl FnOnce(&AppState) -> Response + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(move || page(&state)).await {
        Ok(response) => response,
        Err(e) => {
            warn!(error = %e, "rendering a page failed");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n")
        }
    }
}

/// The reading pages: ages are counted from now, so they are rendered for
/// each request (a few milliseconds) and cached briefly.
const PAGE_CACHE_CONTROL: &str = "public, max-age=60";

fn page(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = typed(status, "text/html; charset=utf-8", body);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(PAGE_CACHE_CONTROL));
    r
}

fn pages<'a>(config: &'a Config, site: &'a Site) -> publish::Pages<'a> {
    publish::Pages {
        site: &config.site,
        base_url: &site.base_url,
        sections: &config.sections,
        now: Some(Utc::now()),
    }
}

/// `/`: every section's latest stories.
async fn front_page(State(state): State<Arc<AppState>>) -> Response {
    let site = state.site();
    if !site.ready {
        return starting();
    }
    let config = state.config();
    let listings: Vec<publish::Listing<'_>> = site
        .sections
        .iter()
        .map(|s| publish::Listing {
            section: &s.section,
            entries: &s.entries[..s.entries.len().min(publish::FRONT_PAGE_STORIES)],
        })
        .collect();
    page(StatusCode::OK, pages(&config, &site).front(&listings))
}

/// `/sections/{slug}/`: the section's stories (a feed page's worth).
fn section_page(state: &AppState, slug: &str) -> Response {
    let site = state.site();
    if !site.ready {
        return starting();
    }
    let config = state.config();
    let Some(section) = site.section(slug) else {
        return page(StatusCode::NOT_FOUND, pages(&config, &site).not_found());
    };
    let listing = publish::Listing {
        section: &section.section,
        entries: &section.entries[..section.entries.len().min(site.page_size)],
    };
    page(StatusCode::OK, pages(&config, &site).section(&listing))
}

/// `/stories/{id}.html`: one story.
async fn story_page(State(state): State<Arc<AppState>>, Path(file): Path<String>) -> Response {
    off_lane(state, move |state| {
        let site = state.site();
        if !site.ready {
            return starting();
        }
        let config = state.config();
        let pages = pages(&config, &site);
        match file.strip_suffix(".html").and_then(|id| site.story(id)) {
            Some((entry, sections)) => page(StatusCode::OK, pages.story(&entry, &sections)),
            None => page(StatusCode::NOT_FOUND, pages.not_found()),
        }
    })
    .await
}

/// `/status`: public, or behind the admin token with `[server] status =
/// "private"`.
async fn index(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(refused) = status_refused(&state.config(), &headers) {
        return refused;
    }
    off_lane(state, index_page).await
}

/// Why a status request is refused, when the status is private and the
/// request does not carry the admin token: as a bearer token, or as the
/// password of Basic authentication (what a browser asks for).
fn status_refused(config: &Config, headers: &HeaderMap) -> Option<Response> {
    if config.server.status == crate::config::StatusAccess::Public {
        return None;
    }
    let token = config.server.admin_token.as_deref()?;
    if bearer_matches(headers, token) || basic_password_matches(headers, token) {
        return None;
    }
    let mut r = plain(
        StatusCode::UNAUTHORIZED,
        "the status is private: give the admin token\n",
    );
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r.headers_mut().append(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"thau status\", charset=\"UTF-8\""),
    );
    Some(r)
}

fn index_page(state: &AppState) -> Response {
    let site = state.site();
    let config = state.config();
    let sources = source_statuses(&state.store, &config, &site, Some(Utc::now()), Some(&state.polls));
    let error = state.config_error.load();
    let store = state.store.health();
    let body = publish::index_html(
        &site.base_url,
        &site.summaries(),
        &sources,
        error.as_deref(),
        store.error.as_deref(),
    );
    typed(StatusCode::OK, "text/html; charset=utf-8", body)
}

/// Each source's state for the status page; with `now`, its next poll too.
/// A failure the store could not record (a full disk) is taken from
/// `polls`, what the runner saw.
pub fn source_statuses(
    store: &Store,
    config: &Config,
    site: &Site,
    now: Option<DateTime<Utc>>,
    polls: Option<&PollLog>,
) -> Vec<SourceStatus> {
    let failing = polls.map(PollLog::failing).unwrap_or_default();
    config
        .sources
        .iter()
        .map(|s| {
            let mut state = store.fetch_state(&s.name).ok().flatten();
            if let Some((at, why)) = failing.get(&s.name)
                && state
                    .as_ref()
                    .is_none_or(|st| st.last_poll.is_none_or(|last| last < *at))
            {
                let st = state.get_or_insert_with(FetchState::default);
                st.last_poll = Some(*at);
                st.last_outcome = Some(crate::model::Outcome::Error);
                st.last_error = Some(why.clone());
            }
            let next_poll = now.and_then(|now| {
                schedule::next_poll(
                    config.timing_of(s),
                    state.as_ref().unwrap_or(&FetchState::default()),
                    now,
                    config.poll.backoff_cap,
                    config.poll.respect_cache_headers,
                )
            });
            SourceStatus {
                name: s.name.clone(),
                title: s.title.clone(),
                location: s.location.to_string(),
                entries: site.per_source.get(&s.name).copied().unwrap_or(0),
                next_poll: next_poll.filter(|_| s.enabled),
                paused: !s.enabled,
                state,
            }
        })
        .collect()
}

#[derive(Serialize)]
struct SourceJson {
    name: String,
    enabled: bool,
    location: String,
    sections: Vec<String>,
    schedule: String,
    /// Entries stored that this source carried.
    entries: usize,
    next_poll: Option<DateTime<Utc>>,
    /// Share of polls answered 304 (or an unchanged file).
    not_modified_share: f64,
    /// Our WebSub subscription to the source's hub, if any (no secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    websub: Option<serde_json::Value>,
    #[serde(flatten)]
    state: serde_json::Map<String, serde_json::Value>,
}

/// A source's fetch state as the API shows it: without its storage key
/// (`location` is shown above it) and with no credentials in a redirect.
fn shown_state(state: &FetchState) -> serde_json::Map<String, serde_json::Value> {
    // Whole seconds: nanoseconds only make the page harder to read.
    let secs = |t: Option<DateTime<Utc>>| t.map(|t| t.trunc_subsecs(0));
    let mut shown = FetchState {
        permanent_redirect: state
            .permanent_redirect
            .as_deref()
            .map(|to| crate::redact::redacted_str(to).into_owned()),
        last_poll: secs(state.last_poll),
        last_success: secs(state.last_success),
        retry_after: secs(state.retry_after),
        fresh_until: secs(state.fresh_until),
        ..state.clone()
    };
    shown.location.clear();
    match serde_json::to_value(&shown) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.remove("location");
            map
        }
        _ => serde_json::Map::new(),
    }
}

async fn api_sources(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(refused) = status_refused(&state.config(), &headers) {
        return refused;
    }
    off_lane(state, api_sources_page).await
}

fn api_sources_page(state: &AppState) -> Response {
    let config = state.config();
    let site = state.site();
    let list: Vec<SourceJson> = source_statuses(&state.store, &config, &site, Some(Utc::now()), Some(&state.polls))
        .into_iter()
        .zip(&config.sources)
        .map(|(status, s)| {
            let fetch = status.state.unwrap_or_default();
            SourceJson {
                enabled: s.enabled,
                name: status.name,
                location: status.location,
                sections: s.sections.clone(),
                schedule: config.timing_of(s).to_string(),
                entries: status.entries,
                next_poll: status.next_poll.map(|t| t.trunc_subsecs(0)),
                not_modified_share: if fetch.polls == 0 {
                    0.0
                } else {
                    fetch.not_modified as f64 / fetch.polls as f64
                },
                websub: state.subscriber.state(&s.name).map(|p| {
                    serde_json::json!({
                        "hub": crate::redact::redacted_str(&p.hub),
                        "topic": crate::redact::redacted_str(&p.topic),
                        "verified": p.verified,
                        "expires": p.expires.map(|t| t.trunc_subsecs(0)),
                        "active": p.active(Utc::now()),
                    })
                }),
                state: shown_state(&fetch),
            }
        })
        .collect();
    let error = state.config_error.load();
    json(&serde_json::json!({ "config_error": error.as_deref(), "sources": list }))
}

/// `POST /api/sources/{name}/poll`: polls now, with `Authorization: Bearer
/// <[server].admin_token>`. Off (404) when no token is configured.
async fn admin_poll(State(state): State<Arc<AppState>>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    let config = state.config();
    let Some(token) = config.server.admin_token.as_deref() else {
        return plain(
            StatusCode::NOT_FOUND,
            "admin endpoints are off: set [server].admin_token\n",
        );
    };
    if !bearer_matches(&headers, token) {
        let mut r = plain(StatusCode::UNAUTHORIZED, "a valid bearer token is required\n");
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    let (reply, answer) = oneshot::channel();
    if state
        .admin
        .send(AdminRequest {
            source: name.clone(),
            reply,
        })
        .await
        .is_err()
    {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
    }
    match answer.await {
        Ok(Ok(report)) => json(&report),
        Ok(Err(AdminError::UnknownSource)) => plain(
            StatusCode::NOT_FOUND,
            &format!("{}\n", state.config().no_such_source(&name)),
        ),
        Ok(Err(AdminError::Busy(why))) => plain(StatusCode::CONFLICT, &format!("{why}\n")),
        Err(_) => plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"),
    }
}

/// `POST /websub`: a subscription request (WebSub §5.1). 202 once it is
/// checked; its intent is verified with the callback in the background.
async fn websub(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let site = state.site();
    if !site.ready {
        return starting();
    }
    let config = state.config();
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the request as application/x-www-form-urlencoded\n",
        );
    }
    let request = match crate::websub::Request::parse(&body, &site, &config) {
        Ok(r) => r,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("{e}\n")),
    };
    if !state.hub.callback_allowed(&config, &request.callback).await {
        return plain(
            StatusCode::BAD_REQUEST,
            &format!("{}\n", crate::websub::RequestError::InternalCallback),
        );
    }
    let Some(turn) = state.hub.verification_turn() else {
        let mut r = plain(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "{} verifications are under way: try again later\n",
                crate::websub::VERIFICATIONS
            ),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
        return r;
    };
    let hub = state.hub.clone();
    tokio::spawn(async move {
        hub.verify(&config, request).await;
        drop(turn);
    });
    plain(
        StatusCode::ACCEPTED,
        "accepted: the callback will be asked to confirm\n",
    )
}

/// `GET /websub/callback/{source}/{token}`: a hub verifying a request of
/// ours.
async fn websub_verify_token(
    State(state): State<Arc<AppState>>,
    Path((source, token)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    verify_subscription(state, source, Some(token), uri).await
}

/// `GET /websub/callback/{source}`: the callback of subscriptions made
/// before tokens, where only an unsubscription we did not ask for is
/// confirmed.
async fn websub_verify(State(state): State<Arc<AppState>>, Path(source): Path<String>, uri: Uri) -> Response {
    verify_subscription(state, source, None, uri).await
}

async fn verify_subscription(state: Arc<AppState>, source: String, token: Option<String>, uri: Uri) -> Response {
    let subscriber = state.subscriber.clone();
    let query = uri.query().unwrap_or("").to_string();
    let max_lease = state.config().websub.max_lease;
    let verified =
        tokio::task::spawn_blocking(move || subscriber.verify(&source, token.as_deref(), &query, max_lease)).await;
    let mut response = match verified {
        Ok(Ok(challenge)) => typed(StatusCode::OK, "text/plain; charset=utf-8", challenge),
        Ok(Err(refusal)) => plain(refusal.status(), "no such subscription request\n"),
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "failed\n"),
    };
    // The challenge is the hub's text: never to be read as anything else.
    response
        .headers_mut()
        .insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// `POST /websub/callback/{source}/{token}`: content a hub pushes, stored
/// when signed for an active subscription.
async fn websub_push_token(
    State(state): State<Arc<AppState>>,
    Path((source, token)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    take_push(state, source, Some(token), headers, body).await
}

/// `POST /websub/callback/{source}`: a push on the callback of a
/// subscription made before tokens.
async fn websub_push(
    State(state): State<Arc<AppState>>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    take_push(state, source, None, headers, body).await
}

async fn take_push(
    state: Arc<AppState>,
    source: String,
    token: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let config = state.config();
    let subscriber = state.subscriber.clone();
    let signature = headers
        .get("x-hub-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let taken = {
        let source = source.clone();
        tokio::task::spawn_blocking(move || {
            subscriber.take(
                &config,
                &source,
                token.as_deref(),
                signature.as_deref(),
                content_type.as_deref(),
                &body,
            )
        })
        .await
    };
    match taken {
        Ok(Ok(counts)) => {
            if let Err(e) = state.store.flush_async().await {
                return plain(StatusCode::SERVICE_UNAVAILABLE, &format!("{e}\n"));
            }
            tracing::info!(source = %source, new = counts.new, updated = counts.updated, "websub: push stored");
            state.changed.notify_one();
            plain(StatusCode::OK, "stored\n")
        }
        Ok(Err((status, why))) => plain(status, &why),
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "failed\n"),
    }
}

/// Whether the request carries `Authorization: Bearer <token>`.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    credentials(headers, "bearer").is_some_and(|given| crate::config::same_secret(given.as_bytes(), token.as_bytes()))
}

/// Whether the request carries Basic credentials whose password is `token`
/// (any user name).
fn basic_password_matches(headers: &HeaderMap, token: &str) -> bool {
    use base64::Engine;
    let Some(decoded) =
        credentials(headers, "basic").and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
    else {
        return false;
    };
    let password = decoded
        .iter()
        .position(|&b| b == b':')
        .map_or(&[][..], |i| &decoded[i + 1..]);
    crate::config::same_secret(password, token.as_bytes())
}

/// The credentials of `Authorization: <scheme> <credentials>` (the scheme
/// in any case, RFC 9110).
fn credentials<'h>(headers: &'h HeaderMap, scheme: &str) -> Option<&'h str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.trim().split_once(char::is_whitespace))
        .filter(|(s, _)| s.eq_ignore_ascii_case(scheme))
        .map(|(_, given)| given.trim())
        .filter(|given| !given.is_empty())
}

/// `/metrics`: name sources and their outcomes, so behind the admin token
/// when the status is private.
async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(refused) = status_refused(&state.config(), &headers) {
        return refused;
    }
    typed(
        StatusCode::OK,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        state.metrics.encode(),
    )
}

/// `200` while thau can do its work, `503` while the store cannot be
/// written (a full disk): what a load balancer or a monitor should watch.
async fn healthz(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let store = state.store.health();
    let failing = state.polls.failing();
    let last_success = state.polls.last_success();
    // A private status shows no names and no reasons, unless the admin asks.
    if status_refused(&state.config(), &headers).is_some() {
        let body = serde_json::json!({
            "status": if store.writable { "ok" } else { "not-ok" },
            "ready": state.site().ready,
            "failing_sources": failing.len(),
        });
        let mut response = json(&body);
        if !store.writable {
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        }
        return response;
    }
    let body = serde_json::json!({
        "status": if store.writable { "ok" } else { "store-not-writable" },
        "ready": state.site().ready,
        "sections": state.site().sections.len(),
        "store": store,
        "backend": state.store.backend(),
        "last_successful_poll": last_success.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        "seconds_since_last_successful_poll": last_success.map(|t| (Utc::now() - t).num_seconds().max(0)),
        "failing_sources": failing.len(),
        "failing": failing.keys().take(20).collect::<Vec<_>>(),
    });
    let mut response = json(&body);
    if !store.writable {
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    }
    response
}

fn json<T: Serialize>(value: &T) -> Response {
    let mut body = serde_json::to_vec_pretty(value).expect("plain data serializes");
    body.push(b'\n');
    typed(StatusCode::OK, "application/json", body)
}

fn plain(status: StatusCode, message: &str) -> Response {
    typed(status, "text/plain; charset=utf-8", message.to_string())
}

fn typed(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_match_across_encodings_and_weakly() {
        assert!(etag_matches(b"\"abc\"", b"\"abc-gz\""));
        assert!(etag_matches(b"W/\"abc-br\", \"x\"", b"\"abc\""));
        assert!(etag_matches(b"*", b"\"abc\""));
        assert!(!etag_matches(b"\"abd\"", b"\"abc\""));
    }

    #[test]
    fn bearer_tokens_are_matched_whatever_the_scheme_s_case() {
        let with = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, value.parse().unwrap());
            h
        };
        let token = "s3cret-token-for-tests";
        assert!(bearer_matches(&with("Bearer s3cret-token-for-tests"), token));
        assert!(bearer_matches(&with("bearer s3cret-token-for-tests"), token));
        assert!(bearer_matches(&with("BEARER   s3cret-token-for-tests "), token));
        assert!(!bearer_matches(&with("Bearer s3cret-token-for-test"), token));
        assert!(!bearer_matches(&with("Basic s3cret-token-for-tests"), token));
        assert!(!bearer_matches(&with("Bearer "), token));
        assert!(!bearer_matches(&HeaderMap::new(), token));
    }

    #[test]
    fn encoding_negotiation_honours_q_values() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT_ENCODING, v.parse().unwrap());
            preferred_encoding(&m)
        };
        assert_eq!(h("gzip, deflate, br"), Encoding::Brotli);
        assert_eq!(h("gzip, br;q=0"), Encoding::Gzip);
        assert_eq!(h("identity"), Encoding::Identity);
        assert_eq!(h("*"), Encoding::Brotli);
        assert_eq!(preferred_encoding(&HeaderMap::new()), Encoding::Identity);
    }

    #[test]
    fn feed_parameters_are_checked() {
        assert_eq!(FeedParams::parse(Some("limit=10"), 500).unwrap().limit, Some(10));
        assert!(FeedParams::parse(Some("limit=0"), 500).is_err());
        assert!(FeedParams::parse(Some("limit=501"), 500).is_err());
        assert!(FeedParams::parse(Some("since=yesterday"), 500).is_err());
        let p = FeedParams::parse(Some("since=2026-11-25T08:00:00%2B01:00"), 500).unwrap();
        assert_eq!(p.since.unwrap().to_rfc3339(), "2026-11-25T07:00:00+00:00");
        let p = FeedParams::parse(Some("since=2026-11-25T08:00:00+01:00"), 500).unwrap();
        assert_eq!(
            p.since.unwrap().to_rfc3339(),
            "2026-11-25T07:00:00+00:00",
            "an unencoded +"
        );
    }

    /// What lets a lane skip a system call per connection: the accepted
    /// socket has TCP_NODELAY from its listener.
    #[tokio::test]
    async fn listeners_share_one_port_and_pass_nodelay_on() {
        let listeners = Listeners::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listeners.local_addr().unwrap();
        assert_ne!(addr.port(), 0);
        assert!(listeners.0.iter().all(|l| l.local_addr().unwrap() == addr));
        if cfg!(target_os = "linux") {
            let cores = std::thread::available_parallelism().unwrap().get();
            assert_eq!(listeners.0.len(), cores);
        }
        let clients: Vec<_> = (0..8).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();
        let mut accepted = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while accepted.len() < clients.len() && std::time::Instant::now() < deadline {
            // Non-blocking listeners: take what each has queued.
            accepted.extend(listeners.0.iter().filter_map(|l| l.accept().ok()));
        }
        assert_eq!(
            accepted.len(),
            clients.len(),
            "every connection reaches one of the listeners"
        );
        for (stream, _) in accepted {
            assert!(stream.nodelay().unwrap(), "an accepted socket inherits TCP_NODELAY");
        }
    }

    /// `SO_REUSEPORT` lets any process of the same user join the port: a
    /// second `thau serve` on it must be refused, not handed half the
    /// connections.
    #[tokio::test]
    async fn a_port_in_use_is_refused() {
        let first = Listeners::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let second = Listeners::bind(first.local_addr().unwrap())
            .err()
            .expect("the port is taken");
        assert_eq!(second.kind(), io::ErrorKind::AddrInUse);
        let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = Listeners::bind(plain.local_addr().unwrap())
            .err()
            .expect("the port is taken");
        assert_eq!(taken.kind(), io::ErrorKind::AddrInUse);
    }
}
