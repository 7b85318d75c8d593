//! Test support: a fake origin that is a real HTTP/1.1 server on
//! 127.0.0.1:0 and can misbehave on purpose, and helpers to run the real
//! `thau` binary against a config in a temporary folder.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the origin answers one path.
#[derive(Clone, Debug)]
pub enum Route {
    /// 200 with the body; 304 when the request's validators match.
    Feed {
        body: Vec<u8>,
        content_type: String,
        etag: Option<String>,
        last_modified: Option<String>,
    },
    /// Any status with headers and a body.
    Status {
        code: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    Redirect {
        code: u16,
        location: String,
    },
    /// Waits this long before answering at all.
    Slow(Duration),
    /// Streams this many bytes (chunked, no length) of an endless feed.
    Huge(u64),
    /// Closes the connection without a word.
    Reset,
    /// Waits, then answers as the inner route.
    Delayed(Duration, Box<Route>),
}

impl Route {
    pub fn feed(body: impl Into<Vec<u8>>, content_type: &str) -> Route {
        Route::Feed {
            body: body.into(),
            content_type: content_type.into(),
            etag: None,
            last_modified: None,
        }
    }

    pub fn feed_with_validators(
        body: impl Into<Vec<u8>>,
        content_type: &str,
        etag: &str,
        last_modified: &str,
    ) -> Route {
        Route::Feed {
            body: body.into(),
            content_type: content_type.into(),
            etag: Some(etag.into()),
            last_modified: Some(last_modified.into()),
        }
    }

    pub fn status(code: u16, headers: &[(&str, &str)]) -> Route {
        Route::Status {
            code,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: format!("status {code}").into_bytes(),
        }
    }
}

/// A request as the origin saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    /// When the request head was read.
    pub at: std::time::Instant,
    /// Header names lowercased.
    pub headers: HashMap<String, String>,
}

#[derive(Default)]
struct Shared {
    routes: Mutex<HashMap<String, Route>>,
    seen: Mutex<Vec<Seen>>,
    /// Bytes of `Huge` bodies actually written.
    huge_written: AtomicU64,
    /// `Slow` requests being answered now, and the most at once.
    slow_now: AtomicU64,
    slow_max: AtomicU64,
}

pub struct Origin {
    pub base: String,
    shared: Arc<Shared>,
}

impl Origin {
    pub fn start() -> Origin {
        Origin::start_on("127.0.0.1")
    }

    /// An origin on another loopback address (127.0.0.2 …): another host
    /// for thau's per-host limits.
    pub fn start_on(ip: &str) -> Origin {
        let listener = TcpListener::bind((ip, 0)).expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || serve(stream, &s));
            }
        });
        Origin { base, shared }
    }

    pub fn route(&self, path: &str, route: Route) {
        self.shared.routes.lock().unwrap().insert(path.to_string(), route);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Every request this origin saw, whatever its path.
    pub fn all_requests(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port")
    }

    pub fn requests(&self, path: &str) -> Vec<Seen> {
        self.shared
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }

    pub fn huge_bytes_written(&self) -> u64 {
        self.shared.huge_written.load(Ordering::SeqCst)
    }

    /// The most `Slow` requests this origin was answering at once.
    pub fn most_slow_at_once(&self) -> u64 {
        self.shared.slow_max.load(Ordering::SeqCst)
    }

    /// Starts counting [`Origin::most_slow_at_once`] afresh.
    pub fn reset_most_slow_at_once(&self) {
        self.shared.slow_max.store(0, Ordering::SeqCst);
    }
}

fn serve(mut stream: TcpStream, shared: &Shared) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    shared.seen.lock().unwrap().push(Seen {
        at: std::time::Instant::now(),
        path: path.clone(),
        headers: headers.clone(),
    });
    // A path with a query falls back to the route of the path alone.
    let mut route = {
        let routes = shared.routes.lock().unwrap();
        routes
            .get(&path)
            .or_else(|| routes.get(path.split('?').next().unwrap_or_default()))
            .cloned()
    };
    while let Some(Route::Delayed(wait, inner)) = route {
        std::thread::sleep(wait);
        route = Some(*inner);
    }
    let _ = match route {
        None => respond(&mut stream, 404, &[], b"no such path"),
        Some(Route::Feed {
            body,
            content_type,
            etag,
            last_modified,
        }) => {
            let fresh = match (&etag, headers.get("if-none-match")) {
                (Some(e), Some(inm)) => e == inm,
                _ => {
                    matches!((&last_modified, headers.get("if-modified-since")), (Some(l), Some(ims)) if l == ims)
                }
            };
            let mut h: Vec<(String, String)> = vec![("Content-Type".into(), content_type)];
            if let Some(e) = etag {
                h.push(("ETag".into(), e));
            }
            if let Some(l) = last_modified {
                h.push(("Last-Modified".into(), l));
            }
            if fresh {
                respond(&mut stream, 304, &h, b"")
            } else {
                let accepts = headers.get("accept-encoding").cloned().unwrap_or_default();
                let body = if accepts.contains("br") {
                    h.push(("Content-Encoding".into(), "br".into()));
                    brotli_bytes(&body)
                } else if accepts.contains("gzip") {
                    h.push(("Content-Encoding".into(), "gzip".into()));
                    gzip_bytes(&body)
                } else {
                    body
                };
                respond(&mut stream, 200, &h, &body)
            }
        }
        Some(Route::Status { code, headers, body }) => respond(&mut stream, code, &headers, &body),
        Some(Route::Redirect { code, location }) => respond(&mut stream, code, &[("Location".into(), location)], b""),
        Some(Route::Slow(d)) => {
            let now = shared.slow_now.fetch_add(1, Ordering::SeqCst) + 1;
            shared.slow_max.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(d);
            shared.slow_now.fetch_sub(1, Ordering::SeqCst);
            respond(
                &mut stream,
                200,
                &[("Content-Type".into(), "application/rss+xml".into())],
                b"<rss version=\"2.0\"><channel><title>slow</title></channel></rss>",
            )
        }
        Some(Route::Huge(size)) => stream_huge(&mut stream, size, &shared.huge_written),
        Some(Route::Reset) => stream.shutdown(Shutdown::Both),
        Some(Route::Delayed(..)) => unreachable!("unwrapped above"),
    };
}

fn respond(stream: &mut TcpStream, code: u16, headers: &[(String, String)], body: &[u8]) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {code} X\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if code != 304 {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

fn stream_huge(stream: &mut TcpStream, size: u64, written: &AtomicU64) -> std::io::Result<()> {
    stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/rss+xml\r\nTransfer-Encoding: chunked\r\n\r\n")?;
    let item = b"<item><title>filler</title><description>xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx</description></item>\n";
    let mut chunk = Vec::new();
    chunk.extend_from_slice(b"<rss version=\"2.0\"><channel><title>huge</title>\n");
    while chunk.len() < 64 * 1024 {
        chunk.extend_from_slice(item);
    }
    let mut sent = 0u64;
    while sent < size {
        stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
        stream.write_all(&chunk)?;
        stream.write_all(b"\r\n")?;
        sent += chunk.len() as u64;
        written.fetch_add(chunk.len() as u64, Ordering::SeqCst);
    }
    stream.write_all(b"0\r\n\r\n")
}

pub fn gzip_bytes(body: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(body).unwrap();
    e.finish().unwrap()
}

pub fn brotli_bytes(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::BrotliCompress(&mut &body[..], &mut out, &Default::default()).unwrap();
    out
}

/// A folder holding a `feeds.toml` and the store.
pub struct Site {
    pub dir: tempfile::TempDir,
}

impl Site {
    pub fn new(config: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("feeds.toml"), config).unwrap();
        Site { dir }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("feeds.toml")
    }

    pub fn write_config(&self, config: &str) {
        std::fs::write(self.config_path(), config).unwrap();
    }

    pub fn store_path(&self) -> PathBuf {
        self.dir.path().join("data/thau.sled")
    }

    /// Runs `thau --config <feeds.toml> args…`.
    pub fn thau(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("run thau");
        Run(output)
    }

    /// Runs `thau` with `args`, killing it and failing past `deadline` (a
    /// hang or a quadratic loop reports instead of stalling the suite).
    pub fn thau_within(&self, args: &[&str], deadline: Duration) -> Run {
        let mut child = self
            .command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start thau");
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > deadline {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "thau {args:?} still running after {deadline:?}\nstdout:\n{}\nstderr:\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Run(child.wait_with_output().unwrap())
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_thau"));
        cmd.arg("--config").arg(self.config_path()).args(args);
        cmd.current_dir(self.dir.path());
        cmd
    }

    /// Opens the store the binary wrote (after it exited).
    pub fn store(&self) -> thau::store::Store {
        thau::store::Store::open(&self.store_path()).expect("open store")
    }

    pub fn entries(&self) -> Vec<thau::model::Entry> {
        self.store().entries().collect::<Result<_, _>>().expect("read entries")
    }
}

pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    /// The `thau poll` line of one source: (outcome, detail).
    pub fn line(&self, source: &str) -> (String, String) {
        let out = self.stdout();
        let line = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(source))
            .unwrap_or_else(|| panic!("no line for {source} in:\n{out}\n{}", self.stderr()));
        let mut parts = line.split_whitespace();
        parts.next();
        let outcome = parts.next().unwrap_or_default().to_string();
        (outcome, parts.collect::<Vec<_>>().join(" "))
    }
}

/// An origin serving the three demo sources the way a regional desk meets
/// them: the paper (windows-1252 RSS, with ETag and Last-Modified) at
/// `/courrier.xml`, the town hall's Atom at `/agde.atom`, the culture agenda's
/// JSON Feed at `/agenda.json`.
pub fn regional_origin() -> Origin {
    let origin = Origin::start();
    origin.route(
        "/courrier.xml",
        Route::feed_with_validators(
            fixture("demo/courrier-thau.xml"),
            "application/rss+xml",
            "\"c-1\"",
            "Tue, 24 Nov 2026 18:31:00 GMT",
        ),
    );
    origin.route(
        "/agde.atom",
        Route::feed(fixture("demo/agde-ville.atom"), "application/atom+xml"),
    );
    origin.route(
        "/agenda.json",
        Route::feed(fixture("demo/agenda-sete.json"), "application/feed+json"),
    );
    origin
}

/// `[[sources]]` tables for the three feeds of [`regional_origin`]:
/// "courrier", "agde-ville" and "agenda-sete".
pub fn regional_sources(origin: &Origin) -> String {
    format!(
        "[[sources]]\nname = \"courrier\"\nurl = \"{}\"\n\
         [[sources]]\nname = \"agde-ville\"\nurl = \"{}\"\n\
         [[sources]]\nname = \"agenda-sete\"\nurl = \"{}\"\n",
        origin.url("/courrier.xml"),
        origin.url("/agde.atom"),
        origin.url("/agenda.json")
    )
}

/// The demo fixtures shipped with thau.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)).unwrap()
}

/// Waits (at most 10 s) for something another process or thread does.
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads a whole stream (for child stderr).
pub fn read_all(mut r: impl Read) -> String {
    let mut s = String::new();
    let _ = r.read_to_string(&mut s);
    s
}

/// A response read off the wire.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    /// Header names lowercased.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A plain HTTP/1.1 request over a fresh connection (no client library: the
/// test sees exactly what the server sent).
pub fn http(method: &str, url: &str, headers: &[(&str, &str)]) -> Resp {
    http_with_body(method, url, headers, b"")
}

/// As [`http`], sending `body` (with its `Content-Length`) after the headers.
pub fn http_with_body(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut stream = TcpStream::connect(host).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers.get("transfer-encoding").is_some_and(|t| t == "chunked") {
        body = dechunk(&body);
    }
    Resp { status, headers, body }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 4 + size..];
    }
}

pub fn get(url: &str) -> Resp {
    http("GET", url, &[])
}

/// `thau serve` running on a free loopback port; killed when dropped.
pub struct Serve {
    pub child: std::process::Child,
    pub base: String,
}

impl Site {
    /// Starts `thau serve` (the config should say `listen = "127.0.0.1:0"`).
    pub fn serve(&self) -> Serve {
        self.serve_with(self.command(&["serve"]), std::process::Stdio::inherit())
    }

    /// Starts `thau serve` logging at info level into `log` (in the site's
    /// folder); read it with [`Site::log`].
    pub fn serve_logged(&self) -> Serve {
        let log = std::fs::File::create(self.dir.path().join("serve.log")).unwrap();
        let mut cmd = self.command(&["serve"]);
        cmd.env("RUST_LOG", "thau=info");
        self.serve_with(cmd, log.into())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    fn serve_with(&self, mut cmd: Command, stderr: std::process::Stdio) -> Serve {
        cmd.stderr(stderr);
        Serve::start(cmd)
    }
}

impl Serve {
    /// Starts a `thau serve` command (stdout is read for the address) and
    /// waits for its site to be rendered.
    pub fn start(cmd: Command) -> Serve {
        let serve = Serve::spawn(cmd);
        // The site is rendered in the background: feeds answer 503 until then.
        let health = serve.url("/healthz");
        wait_for("the site to be rendered", || {
            serde_json::from_slice::<serde_json::Value>(&get(&health).body).is_ok_and(|h| h["ready"] == true)
        });
        serve
    }

    /// Starts a `thau serve` command and returns once it listens.
    pub fn spawn(mut cmd: Command) -> Serve {
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start thau serve");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .trim_end_matches('/')
            .to_string();
        Serve { child, base }
    }
}

impl Serve {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "thau serve did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The shared real-reader scripts, or None (with a note) when absent.
pub fn clients_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("THAU_CLIENTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/clients"));
    if dir.join("feedparser-dump.py").exists() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: no feed clients at ../shared/clients (set THAU_CLIENTS to their folder)");
        None
    }
}

/// Runs a client script; its JSON output on success.
pub fn client(dir: &Path, script: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(dir.join(script)).args(args).output().expect("run client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{script}: {e}: {stdout}"))
}

/// A PostgreSQL database of one test's own, dropped after it, on the
/// server `THAU_TEST_DATABASE_URL` names (`.ci/run` starts a throwaway
/// cluster and sets it). None, saying so, when it is not set; `.ci/run`
/// also sets `THAU_REQUIRE_POSTGRES`, so CI never skips.
pub struct TestDb {
    pub url: String,
    admin: String,
    name: String,
}

static DATABASES: AtomicU64 = AtomicU64::new(0);

pub fn test_database(test: &str) -> Option<TestDb> {
    let Ok(admin) = std::env::var("THAU_TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("THAU_REQUIRE_POSTGRES").is_none(),
            "THAU_REQUIRE_POSTGRES is set but THAU_TEST_DATABASE_URL is not"
        );
        eprintln!("skipped on PostgreSQL ({test}): THAU_TEST_DATABASE_URL is not set");
        return None;
    };
    let name = format!(
        "thau_t{}_{}_{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::SeqCst),
        test.chars()
            .filter(char::is_ascii_alphanumeric)
            .take(30)
            .collect::<String>()
    )
    .to_ascii_lowercase();
    let mut client = postgres::Client::connect(&admin, postgres::NoTls).expect("connect to THAU_TEST_DATABASE_URL");
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create a test database");
    let mut url = url::Url::parse(&admin).expect("THAU_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    Some(TestDb {
        url: url.to_string(),
        admin,
        name,
    })
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}
