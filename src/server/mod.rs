//! HTTP: `serve(listeners, state, stop)` and the `router` behind it: the
//! listener and its lanes here, then one file per family of routes.
//!
//! - `feeds`: section feeds, their variants and archive pages, the OPML:
//!   served from the bytes the [`Site`] rendered and compressed when the
//!   section changed; `?limit`/`?since` variants rendered on request, but
//!   never on the serving threads. Strong ETags, `Last-Modified`, 304s,
//!   gzip and brotli negotiation, HEAD.
//! - `pages`: the reading pages (front, section, story).
//! - `status`: the status page, the admin API, and who may see them.
//! - `health`: `/healthz` and `/metrics`.
//! - `websub`: the hub's `POST /websub` and the subscriber's callbacks.
//!
//! A request reaches a handler through `Http` (the feed fast path) or the
//! axum router; the handlers read an [`AppState`] snapshot. Depends on
//! `site`, `publish`, `store`, `websub`.

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

mod feeds;
mod health;
mod images;
mod pages;
mod status;
mod websub;

use feeds::*;
use health::*;
pub use images::Images;
use pages::*;
pub use status::source_statuses;
use status::*;
use websub::*;

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
    /// Pictures served through thau (`[site] image_proxy`).
    pub images: Images,
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
        .route("/img/{id}", get(images::image))
        .route("/assets/{file}", get(images::asset))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/sources", get(api_sources))
        .route("/api/sources/{name}/poll", post(admin_poll))
        .route("/api/stories/{story}/{verb}", post(status::admin_story))
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
        let accepted = tokio::time::Instant::now();
        tokio::spawn(async move {
            let mut conn = std::pin::pin!(conn);
            // Few connections left: idle ones close, but one just accepted
            // first has PRESSURE_GRACE to send its request (the very
            // pressure its own acceptance raised would close it unserved).
            let pressed = async {
                if pressure.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep_until(accepted + PRESSURE_GRACE).await;
            };
            // Asked to close (shutdown, or few connections left): an idle
            // connection closes now, a busy one after its response.
            let ended = tokio::select! {
                ended = conn.as_mut() => Some(ended),
                _ = stop.wait_for(|s| *s) => None,
                _ = pressed => None,
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
/// How long a new connection may stay silent when connections run short.
const PRESSURE_GRACE: Duration = Duration::from_secs(1);
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
        // (A feed opened in a browser is a page: the router has it.)
        let feed = matches!(*request.method(), Method::GET | Method::HEAD)
            && is_feed_path(request.uri().path())
            && !opened_in_browser(request.headers());
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
            let a = accepted_encodings(&m);
            (a.br, a.gzip)
        };
        assert_eq!(h("gzip, deflate, br"), (true, true));
        assert_eq!(h("gzip, br;q=0"), (false, true));
        assert_eq!(h("br, gzip;q=0"), (true, false));
        assert_eq!(h("identity"), (false, false));
        assert_eq!(h("*"), (true, true));
        assert_eq!(h("*, gzip;q=0"), (true, false));
        let none = accepted_encodings(&HeaderMap::new());
        assert_eq!((none.br, none.gzip), (false, false));
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
