//! `feeds.toml` → validated [`Config`]. Reads the file once with spans kept
//! (toml_edit), checks every key and value, and reports every problem at
//! once with its line (`feeds.toml:14: source "mairie": sections: unknown
//! section "setee"`). Depends on `redact` only.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use toml_edit::{Item, TableLike, Value};
use url::Url;

/// A validated configuration. Paths are absolute or relative to the current
/// directory (resolved against the folder of `feeds.toml`).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this was read from.
    pub file: PathBuf,
    pub server: ServerConfig,
    /// The reading pages: their title and language.
    pub site: SiteConfig,
    /// WebSub: thau as the hub of its feeds (or an external hub).
    pub websub: WebSubConfig,
    pub store: StoreConfig,
    pub poll: PollConfig,
    /// Global limits on what is kept.
    pub retention: Retention,
    /// Where `thau serve` writes the site as static files after each
    /// change (`[export] dir`).
    pub export_dir: Option<PathBuf>,
    pub sections: Vec<Section>,
    pub sources: Vec<Source>,
    /// Position of each source in `sources`, by name.
    by_name: HashMap<String, usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Prefix of self links in published feeds, never ending with `/`; when
    /// absent, `http://` and the address the server is bound to.
    pub base_url: Option<String>,
    /// Entries in a section feed without `?limit`.
    pub page_size: usize,
    /// The largest `?limit` accepted.
    pub max_page_size: usize,
    /// `Cache-Control: max-age` of section feeds.
    pub cache_max_age: Duration,
    /// Bearer token of the admin endpoints; they are off without one.
    pub admin_token: Option<String>,
    /// Who may read `/status` and `/api/sources`.
    pub status: StatusAccess,
    /// Stories in one page of a section's archive (RFC 5005).
    pub archive_page_size: usize,
}

/// Who may read the status page and `/api/sources`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusAccess {
    /// Anyone (the default).
    Public,
    /// Whoever gives the admin token.
    Private,
}

/// `[websub]`: how section feeds are pushed to subscribers.
#[derive(Debug, Clone, PartialEq)]
pub struct WebSubConfig {
    /// An external hub to advertise and ping instead of thau's own.
    pub hub: Option<Url>,
    /// The longest lease granted (a subscriber asking for more gets this).
    pub max_lease: Duration,
    /// The first wait before a failed delivery is tried again (doubled at
    /// each attempt, [`WEBSUB_ATTEMPTS`] attempts in all).
    pub retry: Duration,
    /// Whether callbacks may be on internal addresses (`[poll]
    /// internal_networks`): off, so that a subscription cannot make thau
    /// call into the network it runs in.
    pub internal_callbacks: bool,
    /// How often a source that pushes (an active subscription) is still
    /// polled, in case a push was lost.
    pub poll_interval: Duration,
}

pub const WEBSUB_ATTEMPTS: u32 = 6;

impl Default for WebSubConfig {
    fn default() -> WebSubConfig {
        WebSubConfig {
            hub: None,
            max_lease: Duration::from_secs(10 * 24 * 3600),
            retry: Duration::from_secs(60),
            internal_callbacks: false,
            poll_interval: Duration::from_secs(6 * 3600),
        }
    }
}

/// `[site]`: what the reading pages say about the desk.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteConfig {
    /// The front page's heading and the "all sections" feed's title.
    pub title: String,
    pub description: Option<String>,
    /// The language of the pages' labels ("il y a 2 semaines").
    pub language: Language,
}

impl Default for SiteConfig {
    fn default() -> SiteConfig {
        SiteConfig {
            title: DEFAULT_SITE_TITLE.to_string(),
            description: None,
            language: Language::En,
        }
    }
}

/// The languages the reading pages are labelled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    En,
    Fr,
}

impl Language {
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Fr => "fr",
        }
    }
}

impl ServerConfig {
    /// The prefix of published links when serving from `bound`.
    pub fn base_url(&self, bound: SocketAddr) -> String {
        self.base_url.clone().unwrap_or_else(|| format!("http://{bound}"))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    pub path: PathBuf,
    /// sled's page cache, in bytes (sled's own default is 1 GiB).
    pub cache: u64,
    pub backend: Backend,
}

/// Where entries are kept: `[store] backend`.
#[derive(Debug, Clone, PartialEq)]
pub enum Backend {
    /// The embedded default: a sled folder at `[store] path`, one process.
    Sled,
    /// A PostgreSQL database several thau instances share.
    Postgres {
        /// `[store] url`, `"$NAME"` read from the environment.
        url: Secret,
        /// Connections this instance opens (`[store] connections`).
        connections: usize,
        /// How long a poller holds a claimed source before another instance
        /// may take it over (`[store] lease`).
        lease: Duration,
        /// The certificate authority the server's certificate must chain
        /// to (`[store] ca`, PEM): given, connections require TLS.
        ca: Option<PathBuf>,
    },
}

pub const DEFAULT_PG_CONNECTIONS: usize = 8;
pub const DEFAULT_LEASE: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, PartialEq)]
pub struct PollConfig {
    /// When sources without their own `schedule`/`every` are polled.
    pub timing: Timing,
    pub timeout: Duration,
    pub concurrency: usize,
    /// Polls of one host at once.
    pub per_host: usize,
    pub max_body: u64,
    /// Longest wait between polls of a failing source.
    pub backoff_cap: Duration,
    /// The startup poll is spread over this window.
    pub jitter: Duration,
    /// Honour the origin's `Cache-Control: max-age` / `Expires` as the
    /// shortest interval between polls.
    pub respect_cache_headers: bool,
    /// The most entries taken from one document: its newest.
    pub max_entries_per_poll: usize,
    /// The most bytes of an entry's summary, and of its content, kept (a
    /// longer one is cut and marked).
    pub max_entry_size: usize,
    /// Addresses that are not the public internet: a public source may not
    /// redirect thau there.
    pub internal_networks: std::sync::Arc<[Net]>,
    /// The proxy polls go through (a source's own `proxy` wins).
    pub proxy: Option<Url>,
}

/// A value that is never shown (a token, a password, a cookie): its Debug
/// form is `***`, so no log or page prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Whether `given` is the secret `expected` (an admin token, a WebSub
/// signature). Compared as SHA-256 digests, byte by byte without stopping
/// early: the time taken says nothing about the secret, not even its
/// length.
pub fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    use sha2::Digest;
    let (a, b) = (sha2::Sha256::digest(given), sha2::Sha256::digest(expected));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An IP network, `10.0.0.0/8` or `fc00::/7`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl Net {
    pub fn parse(s: &str) -> Result<Net, String> {
        let (addr, prefix) = s.split_once('/').unwrap_or((s, ""));
        let addr: std::net::IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| "expected an address with a prefix length, such as \"10.0.0.0/8\"".to_string())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix.trim() {
            "" => max,
            p => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or(format!("prefix length must be 0 to {max}"))?,
        };
        Ok(Net { addr, prefix })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        // An IPv4 address seen through IPv6 (::ffff:10.0.0.1) is that address.
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
            v4 => v4,
        };
        let bits = |ip: std::net::IpAddr| match ip {
            std::net::IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, 32u32),
            std::net::IpAddr::V6(v6) => (u128::from(v6), 128u32),
        };
        let ((net, width), (ip, ip_width)) = (bits(self.addr), bits(ip));
        if width != ip_width {
            return false;
        }
        let mask = if self.prefix == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(self.prefix))
        };
        net & mask == ip & mask
    }
}

/// What is not the public internet: loopback, private, shared (CGNAT),
/// link-local, unique-local, unspecified, multicast, documentation and
/// benchmarking ranges.
pub const DEFAULT_INTERNAL_NETWORKS: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
];

/// When a source is polled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timing {
    Cron(Schedule),
    Every(Duration),
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timing::Cron(s) => write!(f, "cron \"{}\"", s.as_str()),
            Timing::Every(d) => write!(f, "every {}s", d.as_secs()),
        }
    }
}

/// Limits on what is kept: at most `max_entries` (newest first), none older
/// than `max_age`. No limit when absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    pub max_entries: Option<usize>,
    pub max_age: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub slug: String,
    pub title: String,
    pub description: Option<String>,
    /// Language of the section's feeds (`fr`, `en-GB`…); the entries' most
    /// common language when absent.
    pub language: Option<String>,
    pub categories: Vec<String>,
    pub keywords: Vec<String>,
    /// Its picture (`logo`): RSS `<image>` and `itunes:image` (a section of
    /// podcasts is a podcast feed), Atom `logo`, JSON Feed `icon`.
    pub logo: Option<Url>,
    /// This section's own limits (an entry is kept while any of its sections
    /// wants it, within the global limits).
    pub retention: Retention,
    /// When its digest feed gets an entry, if it has one.
    pub digest: Option<DigestSchedule>,
    /// What it does not show (`include`/`exclude`).
    pub filter: crate::filter::Filter,
}

/// A section's digest: one entry per period, once the period has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestSchedule {
    pub period: DigestPeriod,
    /// The local time periods end at.
    pub at: chrono::NaiveTime,
    /// Where `at` is read: `[poll] timezone`, else UTC.
    pub timezone: Tz,
    /// How long after a period ends its sources must have been polled
    /// before its digest is made (a story posted at 23:59 may reach the
    /// feed a few minutes later).
    pub delay: Duration,
}

pub const DEFAULT_DIGEST_DELAY: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestPeriod {
    Daily,
    /// Ending on this day of the week.
    Weekly(chrono::Weekday),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub name: String,
    pub location: Location,
    pub sections: Vec<String>,
    /// Overrides `[poll]`'s timing.
    pub timing: Option<Timing>,
    /// Display name; the feed's own title is used when absent.
    pub title: Option<String>,
    /// Where the publisher is: dates it writes without a zone are local
    /// time there (UTC when absent). Its own `timezone`, else `[poll]`'s.
    pub timezone: Option<Tz>,
    /// Subscribe to the hub its feed names (WebSub) and take its pushes.
    /// Its own `websub`, else `[poll]`'s (off by default).
    pub websub: bool,
    /// False: paused, not polled (its entries and state are kept).
    pub enabled: bool,
    /// Request headers sent with each poll (`headers`, and `auth` as an
    /// `Authorization` header), `$NAME` values read from the environment.
    pub headers: Vec<(String, Secret)>,
    /// The encoding its documents are read in, whatever they declare.
    pub encoding: Option<&'static encoding_rs::Encoding>,
    /// Its own `proxy`, else `[poll]`'s.
    pub proxy: Option<Url>,
    /// `[sources.scrape]`: a web page read with CSS selectors.
    pub scrape: Option<crate::scrape::Rules>,
    /// What identifies its entries (`id = "guid" | "link" | "content"`).
    pub id_from: crate::normalize::IdFrom,
    /// Fetch the page of each new entry that is only a teaser and publish
    /// its article (readability) as the content.
    pub full_text: bool,
    /// What is not stored (`include`/`exclude`).
    pub filter: crate::filter::Filter,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Url(Url),
    File(PathBuf),
}

impl Location {
    /// The URL, for a source on the web.
    pub fn url(&self) -> Option<&Url> {
        match self {
            Location::Url(url) => Some(url),
            Location::File(_) => None,
        }
    }

    /// The host polls of this source go to, lowercased, as `per_host`
    /// counts them; empty for a local file.
    pub fn host(&self) -> String {
        match self {
            Location::Url(url) => url.host_str().unwrap_or_default().to_ascii_lowercase(),
            Location::File(_) => String::new(),
        }
    }

    /// A stable string naming where the source lives; validators are kept
    /// per location. It is stored and shown, so it holds no credentials: a
    /// URL with secrets is named by its redacted form and a hash of the
    /// whole (a changed password is still a changed location).
    pub fn as_key(&self) -> String {
        match self {
            Location::Url(url) if crate::redact::has_secrets(url) => {
                use sha2::Digest;
                let hash = sha2::Sha256::digest(url.as_str().as_bytes());
                format!("{} #{}", crate::redact::redacted(url), hex16(&hash))
            }
            Location::Url(url) => url.to_string(),
            Location::File(path) => path.display().to_string(),
        }
    }
}

fn hex16(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Shows a URL without its credentials (see [`crate::redact`]).
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Url(url) => f.write_str(crate::redact::redacted(url).as_str()),
            Location::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A cron schedule with seconds first (six or seven fields), as
/// tokio-cron-scheduler wants it. Five-field schedules are accepted and
/// run at second 0. Parsed once; equal when written the same.
#[derive(Debug, Clone)]
pub struct Schedule {
    text: String,
    cron: croner::Cron,
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Schedule) -> bool {
        self.text == other.text
    }
}

impl Eq for Schedule {}

impl Schedule {
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let fields = text.split_whitespace().count();
        let six = match fields {
            5 => format!("0 {}", text.trim()),
            6 | 7 => text.split_whitespace().collect::<Vec<_>>().join(" "),
            n => {
                return Err(format!(
                    "a cron schedule has 5 fields (minute hour day month weekday) or 6 with seconds first, not {n}"
                ));
            }
        };
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Required)
            .build()
            .parse(&six)
            .map_err(|e| e.to_string())?;
        Ok(Schedule { text: six, cron })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first time the schedule fires after `now`.
    pub fn next_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&now, false).ok()
    }
}

/// One problem found in the file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}", display_problems(.0))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid(p) => p,
            ConfigError::Read { .. } => &[],
        }
    }
}

fn display_problems(problems: &[Problem]) -> String {
    problems.iter().map(Problem::to_string).collect::<Vec<_>>().join("\n")
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_SCHEDULE: &str = "0 */15 * * * *";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
pub const DEFAULT_CONCURRENCY: usize = 16;
pub const DEFAULT_PER_HOST: usize = 2;
pub const DEFAULT_BACKOFF_CAP: Duration = Duration::from_secs(24 * 3600);
pub const DEFAULT_JITTER: Duration = Duration::from_secs(30);
pub const DEFAULT_MAX_BODY: u64 = 10 * 1024 * 1024;
pub const DEFAULT_MAX_ENTRIES_PER_POLL: usize = 2000;
pub const DEFAULT_STORE_CACHE: u64 = 32 * 1024 * 1024;
pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const DEFAULT_MAX_PAGE_SIZE: usize = 500;
pub const DEFAULT_CACHE_MAX_AGE: Duration = Duration::from_secs(300);
pub const DEFAULT_SITE_TITLE: &str = "thau";
pub const DEFAULT_ARCHIVE_PAGE_SIZE: usize = 50;

const TOP_KEYS: &[&str] = &[
    "server",
    "site",
    "websub",
    "store",
    "poll",
    "retention",
    "export",
    "sections",
    "sources",
];
const EXPORT_KEYS: &[&str] = &["dir"];
const SITE_KEYS: &[&str] = &["title", "description", "language"];
const WEBSUB_KEYS: &[&str] = &["hub", "max_lease", "retry", "internal_callbacks", "poll_interval"];
const RETENTION_KEYS: &[&str] = &["max_entries", "max_age"];
const SERVER_KEYS: &[&str] = &[
    "listen",
    "base_url",
    "page_size",
    "max_page_size",
    "cache_max_age",
    "admin_token",
    "status",
    "archive_page_size",
];
const STORE_KEYS: &[&str] = &["path", "cache", "backend", "url", "connections", "lease", "ca"];
const POLL_KEYS: &[&str] = &[
    "schedule",
    "every",
    "timeout",
    "concurrency",
    "per_host",
    "max_body",
    "backoff_cap",
    "jitter",
    "respect_cache_headers",
    "timezone",
    "max_entries_per_poll",
    "max_entry_size",
    "internal_networks",
    "websub",
    "proxy",
];
const SECTION_KEYS: &[&str] = &[
    "slug",
    "title",
    "description",
    "logo",
    "language",
    "categories",
    "keywords",
    "max_entries",
    "max_age",
    "digest",
    "digest_time",
    "digest_day",
    "digest_delay",
    "include",
    "exclude",
];
const SOURCE_KEYS: &[&str] = &[
    "name",
    "url",
    "path",
    "sections",
    "schedule",
    "every",
    "title",
    "timezone",
    "websub",
    "enabled",
    "include",
    "exclude",
    "headers",
    "auth",
    "encoding",
    "proxy",
    "scrape",
    "id",
    "full_text",
];
const SCRAPE_KEYS: &[&str] = &["item", "title", "link", "summary", "date", "image", "category"];

impl Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Validates `text`, read from `path` (used for messages and to resolve
    /// relative paths).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let file_name = path.display().to_string();
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let doc = match toml_edit::Document::parse(text) {
            Ok(doc) => doc,
            Err(e) => {
                let line = e.span().map(|s| Lines::of(text).line(s.start)).unwrap_or(1);
                return Err(ConfigError::Invalid(vec![Problem {
                    file: file_name,
                    line,
                    message: format!("invalid TOML: {}", e.message().trim()),
                }]));
            }
        };
        let mut cx = Checker {
            lines: Lines::of(text),
            file: file_name,
            base_dir,
            problems: Vec::new(),
        };
        let config = cx.config(doc.as_table(), path);
        if cx.problems.is_empty() {
            Ok(config)
        } else {
            cx.problems.sort_by_key(|p| p.line);
            Err(ConfigError::Invalid(cx.problems))
        }
    }

    pub fn source(&self, name: &str) -> Option<&Source> {
        self.by_name.get(name).map(|&i| &self.sources[i])
    }

    /// `no source named "x"`, with the name meant when one is close.
    pub fn no_such_source(&self, name: &str) -> String {
        let hint = did_you_mean(name, self.sources.iter().map(|s| s.name.as_str()));
        format!("no source named \"{name}\"{hint}")
    }

    pub fn timing_of<'a>(&'a self, source: &'a Source) -> &'a Timing {
        source.timing.as_ref().unwrap_or(&self.poll.timing)
    }
}

/// Where each line starts, to turn byte offsets into line numbers in
/// O(log lines) (counting newlines from the start for every value made
/// checking 50,000 sources take minutes).
struct Lines(Vec<usize>);

impl Lines {
    fn of(text: &str) -> Lines {
        Lines(memchr::memchr_iter(b'\n', text.as_bytes()).collect())
    }

    /// The 1-based line of byte `offset`.
    fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&newline| newline < offset) + 1
    }
}

/// Walks the document, collecting problems instead of stopping at the first.
struct Checker {
    lines: Lines,
    file: String,
    base_dir: PathBuf,
    problems: Vec<Problem>,
}

/// A table being read, with the words that name it in messages.
struct Tbl<'t> {
    table: &'t dyn TableLike,
    what: String,
    line: usize,
}

impl Checker {
    fn line(&self, span: Option<Range<usize>>) -> usize {
        span.map(|s| self.lines.line(s.start)).unwrap_or(1)
    }

    fn problem(&mut self, line: usize, message: String) {
        self.problems.push(Problem {
            file: self.file.clone(),
            line,
            message,
        });
    }

    fn config(&mut self, root: &toml_edit::Table, path: &Path) -> Config {
        let root = Tbl {
            table: root,
            what: String::new(),
            line: 1,
        };
        self.unknown_keys(&root, TOP_KEYS);

        let server = self.table(&root, "server");
        let store = self.table(&root, "store");
        let poll = self.table(&root, "poll");
        let retention_table = self.table(&root, "retention");
        let export = self.table(&root, "export");
        let site = self.table(&root, "site");
        let websub = self.table(&root, "websub");
        for (table, known) in [
            (&websub, WEBSUB_KEYS),
            (&export, EXPORT_KEYS),
            (&site, SITE_KEYS),
            (&server, SERVER_KEYS),
            (&store, STORE_KEYS),
            (&poll, POLL_KEYS),
            (&retention_table, RETENTION_KEYS),
        ] {
            if let Some(t) = table {
                self.unknown_keys(t, known);
            }
        }

        let listen = server
            .as_ref()
            .and_then(|t| self.parsed(t, "listen", "an address such as \"127.0.0.1:8080\"", |s| s.parse().ok()))
            .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("default address parses"));
        let base_url = server.as_ref().and_then(|t| {
            self.parsed(t, "base_url", "an absolute http(s) URL", |s| {
                Url::parse(s)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .map(|_| s.trim_end_matches('/').to_string())
            })
        });

        let page_size = server
            .as_ref()
            .and_then(|t| self.integer(t, "page_size", 1, 10_000))
            .map_or(DEFAULT_PAGE_SIZE, |n| n as usize);
        let max_page_size = server
            .as_ref()
            .and_then(|t| self.integer(t, "max_page_size", 1, 10_000))
            .map_or(DEFAULT_MAX_PAGE_SIZE.max(page_size), |n| n as usize);
        if max_page_size < page_size {
            let line = server.as_ref().map_or(1, |t| t.line);
            self.problem(
                line,
                format!("[server]: max_page_size ({max_page_size}) is below page_size ({page_size})"),
            );
        }
        let cache_max_age = server
            .as_ref()
            .and_then(|t| self.parsed_with(t, "cache_max_age", parse_duration_or_zero))
            .unwrap_or(DEFAULT_CACHE_MAX_AGE);
        let admin_token = server
            .as_ref()
            .and_then(|t| self.string(t, "admin_token"))
            .and_then(|(token, line)| {
                if token.trim().is_empty() || token.chars().any(char::is_whitespace) {
                    self.problem(line, "[server] admin_token: must not be blank or hold spaces".into());
                    None
                } else if token.chars().count() < 16 {
                    self.problem(line, "[server] admin_token: use at least 16 characters".into());
                    None
                } else {
                    Some(token)
                }
            });
        let status = match server.as_ref().and_then(|t| self.string(t, "status")) {
            None => StatusAccess::Public,
            Some((s, _)) if s == "public" => StatusAccess::Public,
            Some((s, line)) if s == "private" => {
                if admin_token.is_none() && !server.as_ref().is_some_and(|t| t.table.contains_key("admin_token")) {
                    self.problem(
                        line,
                        "[server] status = \"private\" needs an admin_token: the status page is shown to whoever gives it".into(),
                    );
                }
                StatusAccess::Private
            }
            Some((s, line)) => {
                self.problem(
                    line,
                    format!("[server] status: expected \"public\" or \"private\", not \"{s}\""),
                );
                StatusAccess::Public
            }
        };
        let site = site.as_ref().map(|t| self.site(t)).unwrap_or_default();
        let websub = websub.as_ref().map(|t| self.websub(t)).unwrap_or_default();
        let archive_page_size = server
            .as_ref()
            .and_then(|t| self.integer(t, "archive_page_size", 10, 1000))
            .map_or(DEFAULT_ARCHIVE_PAGE_SIZE.min(page_size), |n| n as usize);
        if archive_page_size > page_size {
            let line = server.as_ref().map_or(1, |t| t.line);
            self.problem(
                line,
                format!(
                    "[server]: archive_page_size ({archive_page_size}) is above page_size ({page_size}): stories between the feed and the archive would be in neither"
                ),
            );
        }

        let store_path = match store.as_ref().and_then(|t| self.string(t, "path")) {
            Some((p, line)) => {
                let path = self.base_dir.join(p);
                if path.exists() && !path.is_dir() {
                    self.problem(
                        line,
                        format!("[store] path: {} is a file; the store is a folder", path.display()),
                    );
                }
                path
            }
            None => self.base_dir.join("data/thau.sled"),
        };
        let export_dir = export.as_ref().and_then(|t| self.string(t, "dir")).map(|(d, line)| {
            let dir = self.base_dir.join(d);
            if dir.exists() && !dir.is_dir() {
                self.problem(line, format!("[export] dir: {} is not a folder", dir.display()));
            }
            dir
        });
        let store_cache = store
            .as_ref()
            .and_then(|t| self.parsed_with(t, "cache", parse_size))
            .unwrap_or(DEFAULT_STORE_CACHE);
        let backend = store.as_ref().map_or(Backend::Sled, |t| self.backend(t));

        let timing = poll
            .as_ref()
            .and_then(|t| self.timing(t))
            .unwrap_or_else(|| Timing::Cron(Schedule::parse(DEFAULT_SCHEDULE).expect("default schedule parses")));
        let per_host = poll
            .as_ref()
            .and_then(|t| self.integer(t, "per_host", 1, 1024))
            .map_or(DEFAULT_PER_HOST, |n| n as usize);
        let backoff_cap = poll
            .as_ref()
            .and_then(|t| self.parsed_with(t, "backoff_cap", parse_duration))
            .unwrap_or(DEFAULT_BACKOFF_CAP);
        let jitter = poll
            .as_ref()
            .and_then(|t| self.parsed_with(t, "jitter", parse_duration_or_zero))
            .unwrap_or(DEFAULT_JITTER);
        let respect_cache_headers = poll
            .as_ref()
            .and_then(|t| self.boolean(t, "respect_cache_headers"))
            .unwrap_or(false);
        let timeout = poll
            .as_ref()
            .and_then(|t| self.parsed_with(t, "timeout", parse_duration))
            .unwrap_or(DEFAULT_TIMEOUT);
        let concurrency = poll
            .as_ref()
            .and_then(|t| self.integer(t, "concurrency", 1, 1024))
            .map(|n| n as usize)
            .unwrap_or(DEFAULT_CONCURRENCY);
        let max_body = poll
            .as_ref()
            .and_then(|t| match t.table.get("max_body") {
                Some(Item::Value(Value::Integer(_))) => self.integer(t, "max_body", 1024, i64::MAX).map(|n| n as u64),
                _ => self.parsed_with(t, "max_body", parse_size),
            })
            .unwrap_or(DEFAULT_MAX_BODY);

        let max_entry_size = poll
            .as_ref()
            .and_then(|t| match t.table.get("max_entry_size") {
                Some(Item::Value(Value::Integer(_))) => {
                    self.integer(t, "max_entry_size", 1024, 1 << 30).map(|n| n as u64)
                }
                _ => self.parsed_with(t, "max_entry_size", parse_size),
            })
            .map_or(crate::normalize::DEFAULT_MAX_TEXT, |n| n.clamp(1024, 1 << 30) as usize);
        let max_entries_per_poll = poll
            .as_ref()
            .and_then(|t| self.integer(t, "max_entries_per_poll", 1, 1_000_000))
            .map_or(DEFAULT_MAX_ENTRIES_PER_POLL, |n| n as usize);
        let internal_networks: Vec<Net> = match poll.as_ref().and_then(|t| self.string_list(t, "internal_networks")) {
            Some(list) => list
                .into_iter()
                .filter_map(|(s, line)| {
                    Net::parse(&s)
                        .map_err(|e| self.problem(line, format!("[poll] internal_networks: \"{s}\": {e}")))
                        .ok()
                })
                .collect(),
            None => DEFAULT_INTERNAL_NETWORKS
                .iter()
                .map(|s| Net::parse(s).expect("default networks parse"))
                .collect(),
        };
        let retention = retention_table.as_ref().map(|t| self.retention(t)).unwrap_or_default();
        let timezone = poll
            .as_ref()
            .and_then(|t| self.parsed_with(t, "timezone", parse_timezone));
        let sections = self.sections(&root, timezone);
        let websub_default = poll.as_ref().and_then(|t| self.boolean(t, "websub")).unwrap_or(false);
        let proxy = poll.as_ref().and_then(|t| self.proxy(t));
        let sources = self.sources(&root, &sections, timezone, websub_default, proxy.clone());

        Config {
            file: path.to_owned(),
            server: ServerConfig {
                listen,
                base_url,
                page_size,
                max_page_size,
                cache_max_age,
                admin_token,
                status,
                archive_page_size,
            },
            site,
            websub,
            store: StoreConfig {
                path: store_path,
                cache: store_cache,
                backend,
            },
            poll: PollConfig {
                timing,
                timeout,
                concurrency,
                per_host,
                max_body,
                backoff_cap,
                jitter,
                respect_cache_headers,
                max_entries_per_poll,
                max_entry_size,
                internal_networks: internal_networks.into(),
                proxy,
            },
            retention,
            export_dir,
            sections,
            by_name: sources.iter().enumerate().map(|(i, s)| (s.name.clone(), i)).collect(),
            sources,
        }
    }

    fn websub(&mut self, t: &Tbl<'_>) -> WebSubConfig {
        let defaults = WebSubConfig::default();
        WebSubConfig {
            hub: self.parsed(t, "hub", "an absolute http(s) URL", |s| {
                Url::parse(s).ok().filter(|u| matches!(u.scheme(), "http" | "https"))
            }),
            max_lease: self
                .parsed_with(t, "max_lease", parse_duration)
                .unwrap_or(defaults.max_lease),
            retry: self.parsed_with(t, "retry", parse_duration).unwrap_or(defaults.retry),
            internal_callbacks: self.boolean(t, "internal_callbacks").unwrap_or(false),
            poll_interval: self
                .parsed_with(t, "poll_interval", parse_duration)
                .unwrap_or(defaults.poll_interval),
        }
    }

    fn site(&mut self, t: &Tbl<'_>) -> SiteConfig {
        let title = match self.string(t, "title") {
            Some((s, line)) if s.trim().is_empty() => {
                self.problem(line, "[site] title: must not be blank".into());
                DEFAULT_SITE_TITLE.to_string()
            }
            Some((s, _)) => s,
            None => DEFAULT_SITE_TITLE.to_string(),
        };
        let language = self
            .parsed(t, "language", "\"en\" or \"fr\"", |s| {
                match s.to_ascii_lowercase().as_str() {
                    "en" => Some(Language::En),
                    "fr" => Some(Language::Fr),
                    _ => None,
                }
            })
            .unwrap_or(Language::En);
        SiteConfig {
            title,
            description: self.string(t, "description").map(|(s, _)| s),
            language,
        }
    }

    /// `digest = "daily"|"weekly"`, `digest_time = "07:00"`, `digest_day = "monday"`.
    fn digest(&mut self, t: &Tbl<'_>, timezone: Option<Tz>) -> Option<DigestSchedule> {
        let period = self.parsed(t, "digest", "\"daily\" or \"weekly\"", |s| match s {
            "daily" => Some(false),
            "weekly" => Some(true),
            _ => None,
        });
        let at = self
            .parsed(t, "digest_time", "a time of day such as \"07:00\"", |s| {
                chrono::NaiveTime::parse_from_str(s, "%H:%M").ok()
            })
            .unwrap_or(chrono::NaiveTime::MIN);
        let day = self.parsed(t, "digest_day", "a day of the week such as \"monday\"", parse_weekday);
        let delay = self
            .parsed_with(t, "digest_delay", parse_duration_or_zero)
            .unwrap_or(DEFAULT_DIGEST_DELAY);
        let Some(weekly) = period else {
            for key in ["digest_time", "digest_day", "digest_delay"] {
                if !t.table.contains_key("digest")
                    && let Some((_, line)) = self.value(t, key)
                {
                    self.problem(
                        line,
                        format!("{}: {key} needs digest = \"daily\" or \"weekly\"", t.what),
                    );
                }
            }
            return None;
        };
        if !weekly && let Some((_, line)) = self.value(t, "digest_day") {
            self.problem(line, format!("{}: digest_day is for weekly digests", t.what));
        }
        Some(DigestSchedule {
            period: if weekly {
                DigestPeriod::Weekly(day.unwrap_or(chrono::Weekday::Mon))
            } else {
                DigestPeriod::Daily
            },
            at,
            timezone: timezone.unwrap_or(Tz::UTC),
            delay,
        })
    }

    /// `[sources.scrape]`: every selector checked.
    fn scrape(&mut self, source: &Tbl<'_>) -> Option<crate::scrape::Rules> {
        let item = source.table.get("scrape")?;
        let line = self.line(
            item.span()
                .or_else(|| source.table.key("scrape").and_then(|k| k.span())),
        );
        let Some(table) = item.as_table_like() else {
            self.problem(
                line,
                format!("{}: scrape: expected a table [sources.scrape]", source.what),
            );
            return None;
        };
        let t = Tbl {
            table,
            what: format!("{} scrape", source.what),
            line,
        };
        self.unknown_keys(&t, SCRAPE_KEYS);
        let field = |cx: &mut Self, key: &str, required: bool| -> Option<crate::scrape::Field> {
            let found = if required {
                cx.required_string(&t, key)
            } else {
                cx.string(&t, key)
            };
            let (written, line) = found?;
            crate::scrape::Field::parse(&written)
                .map_err(|e| cx.problem(line, format!("{}: {key}: \"{written}\": {e}", t.what)))
                .ok()
        };
        let item_sel = self.required_string(&t, "item").and_then(|(written, line)| {
            crate::scrape::Sel::parse(&written)
                .map_err(|e| self.problem(line, format!("{}: item: \"{written}\": {e}", t.what)))
                .ok()
        });
        let title = field(self, "title", true);
        let link = field(self, "link", true);
        let summary = field(self, "summary", false);
        let date = field(self, "date", false);
        let image = field(self, "image", false);
        let category = field(self, "category", false);
        Some(crate::scrape::Rules {
            item: item_sel?,
            title: title?,
            link: link?,
            summary,
            date,
            image,
            category,
        })
    }

    /// `proxy`: an http(s) proxy URL, or `"$NAME"` read from the
    /// environment (a proxy URL may carry credentials). SOCKS is refused
    /// here rather than by every poll: thau's HTTP client speaks HTTP
    /// proxies only.
    fn proxy(&mut self, t: &Tbl<'_>) -> Option<Url> {
        let (written, line) = self.string(t, "proxy")?;
        let prefix = if t.what.starts_with('[') {
            format!("{} proxy", t.what)
        } else {
            format!("{}: proxy", t.what)
        };
        let value = match written.strip_prefix('$') {
            Some(var) => match std::env::var(var) {
                Ok(v) => v,
                Err(_) => {
                    self.problem(line, format!("{prefix}: the environment variable {var} is not set"));
                    return None;
                }
            },
            None => written.clone(),
        };
        let shown = match written.starts_with('$') {
            true => written.clone(),
            false => mask_userinfo(&value),
        };
        match Url::parse(&value) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
            Ok(u) if u.scheme().starts_with("socks") => {
                self.problem(
                    line,
                    format!("{prefix}: \"{shown}\": SOCKS proxies are not supported; use an HTTP proxy (http://host:port)"),
                );
                None
            }
            _ => {
                self.problem(
                    line,
                    format!("{prefix}: expected a proxy URL such as \"http://proxy.example:3128\", not \"{shown}\""),
                );
                None
            }
        }
    }

    /// `[store] backend`, and for PostgreSQL its `url` (`"$NAME"` read
    /// from the environment), `connections`, `lease` and `ca`.
    fn backend(&mut self, t: &Tbl<'_>) -> Backend {
        let line = self.line(t.table.key("backend").and_then(|k| k.span()));
        match self.string(t, "backend").map(|(b, _)| b).as_deref() {
            None | Some("sled") => {
                for key in ["url", "connections", "lease", "ca"] {
                    if t.table.contains_key(key) {
                        let line = self.line(t.table.key(key).and_then(|k| k.span()));
                        self.problem(line, format!("[store] {key}: only for backend = \"postgres\""));
                    }
                }
                Backend::Sled
            }
            Some("postgres") => {
                let url = match self.string(t, "url") {
                    None => {
                        self.problem(
                            line,
                            "[store] backend = \"postgres\" needs url = \"postgres://…\" (or \"$THAU_DATABASE_URL\")"
                                .into(),
                        );
                        String::new()
                    }
                    Some((url, line)) => match url.strip_prefix('$') {
                        Some(var) => std::env::var(var).unwrap_or_else(|_| {
                            self.problem(line, format!("[store] url: the environment variable {var} is not set"));
                            String::new()
                        }),
                        None => url,
                    },
                };
                if !url.is_empty() && url.parse::<postgres::Config>().is_err() {
                    let line = self.line(t.table.key("url").and_then(|k| k.span()));
                    self.problem(
                        line,
                        "[store] url: not a PostgreSQL connection string (postgres://user@host/db)".into(),
                    );
                }
                Backend::Postgres {
                    url: Secret(url),
                    connections: self
                        .integer(t, "connections", 1, 256)
                        .map_or(DEFAULT_PG_CONNECTIONS, |n| n as usize),
                    lease: self.parsed_with(t, "lease", parse_duration).unwrap_or(DEFAULT_LEASE),
                    ca: self.string(t, "ca").and_then(|(ca, line)| {
                        let path = self.base_dir.join(ca);
                        if path.is_file() {
                            Some(path)
                        } else {
                            let problem = format!("[store] ca: {} is not a file (a PEM certificate)", path.display());
                            self.problem(line, problem);
                            None
                        }
                    }),
                }
            }
            Some(other) => {
                self.problem(
                    line,
                    format!("[store] backend: {other:?} is not a backend; \"sled\" or \"postgres\""),
                );
                Backend::Sled
            }
        }
    }

    /// `headers = { … }` and `auth = { bearer = … }` or `{ user, password }`,
    /// as request headers; `"$NAME"` is read from the environment.
    fn headers(&mut self, t: &Tbl<'_>) -> Vec<(String, Secret)> {
        let mut out = Vec::new();
        let what = t.what.clone();
        let secret = |cx: &mut Self, key: &str, v: &Value, line: usize| -> Option<String> {
            let Some(s) = v.as_str() else {
                cx.problem(line, format!("{what}: {key}: expected a string"));
                return None;
            };
            match s.strip_prefix('$') {
                Some(var) => match std::env::var(var) {
                    Ok(value) => Some(value),
                    Err(_) => {
                        cx.problem(
                            line,
                            format!("{what}: {key}: the environment variable {var} is not set"),
                        );
                        None
                    }
                },
                None => Some(s.to_string()),
            }
        };
        if let Some(item) = t.table.get("headers") {
            let line = self.line(item.span().or_else(|| t.table.key("headers").and_then(|k| k.span())));
            match item.as_table_like() {
                Some(table) => {
                    for (name, v) in table.iter() {
                        let Some(v) = v.as_value() else { continue };
                        let Some(value) = secret(self, &format!("headers.{name}"), v, line) else {
                            continue;
                        };
                        let valid = axum::http::HeaderName::from_bytes(name.as_bytes()).is_ok()
                            && axum::http::HeaderValue::from_str(&value).is_ok();
                        if valid {
                            out.push((name.to_string(), Secret(value)));
                        } else {
                            self.problem(line, format!("{what}: headers.{name}: not a valid HTTP header"));
                        }
                    }
                }
                None => self.problem(
                    line,
                    format!("{what}: headers: expected a table such as {{ \"User-Agent\" = \"…\" }}"),
                ),
            }
        }
        if let Some(item) = t.table.get("auth") {
            let line = self.line(item.span().or_else(|| t.table.key("auth").and_then(|k| k.span())));
            let table = item.as_table_like();
            let get = |k: &str| table.and_then(|t| t.get(k)).and_then(Item::as_value).cloned();
            match (get("bearer"), get("user"), get("password")) {
                (Some(b), None, None) => {
                    if let Some(token) = secret(self, "auth.bearer", &b, line) {
                        out.push(("Authorization".into(), Secret(format!("Bearer {token}"))));
                    }
                }
                (None, Some(u), Some(p)) => {
                    let user = secret(self, "auth.user", &u, line);
                    let password = secret(self, "auth.password", &p, line);
                    if let (Some(u), Some(p)) = (user, password) {
                        use base64::Engine;
                        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                        out.push(("Authorization".into(), Secret(format!("Basic {basic}"))));
                    }
                }
                _ => self.problem(
                    line,
                    format!("{what}: auth: expected {{ bearer = \"…\" }} or {{ user = \"…\", password = \"…\" }}"),
                ),
            }
        }
        out
    }

    /// `include = [...]`, `exclude = [...]`: keywords or `/regex/`.
    fn filter(&mut self, t: &Tbl<'_>) -> crate::filter::Filter {
        let mut patterns = |key: &str| -> Vec<crate::filter::Pattern> {
            self.string_list(t, key)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(written, line)| match crate::filter::Pattern::parse(&written) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        self.problem(line, format!("{}: {key}: \"{written}\": {e}", t.what));
                        None
                    }
                })
                .collect()
        };
        let include = patterns("include");
        let exclude = patterns("exclude");
        crate::filter::Filter { include, exclude }
    }

    fn retention(&mut self, t: &Tbl<'_>) -> Retention {
        Retention {
            max_entries: self.integer(t, "max_entries", 1, i64::MAX).map(|n| n as usize),
            max_age: self.parsed_with(t, "max_age", parse_duration),
        }
    }

    fn sections(&mut self, root: &Tbl<'_>, timezone: Option<Tz>) -> Vec<Section> {
        let mut sections = Vec::new();
        let mut seen = HashSet::new();
        for t in self.array_of_tables(root, "sections") {
            let slug = self.required_string(&t, "slug");
            let label = match &slug {
                Some((s, _)) => format!("section \"{s}\""),
                None => t.what.clone(),
            };
            let t = Tbl { what: label, ..t };
            self.unknown_keys(&t, SECTION_KEYS);
            if let Some((slug, line)) = &slug {
                if slug.is_empty()
                    || !slug
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                {
                    self.problem(*line, format!("{}: slug must match [a-z0-9-]+", t.what));
                } else if !seen.insert(slug.clone()) {
                    self.problem(*line, format!("{}: slug is used by another section", t.what));
                }
            }
            let title = self.required_string(&t, "title");
            let description = self.string(&t, "description").map(|(s, _)| s);
            let language = self.string(&t, "language").map(|(s, _)| s);
            let logo = self.parsed(&t, "logo", "an http(s) URL of a picture", |s| {
                Url::parse(s).ok().filter(|u| matches!(u.scheme(), "http" | "https"))
            });
            let categories = self.string_list(&t, "categories").unwrap_or_default();
            let keywords = self.string_list(&t, "keywords").unwrap_or_default();
            let retention = self.retention(&t);
            let digest = self.digest(&t, timezone);
            let filter = self.filter(&t);
            if let (Some((slug, _)), Some((title, _))) = (slug, title) {
                sections.push(Section {
                    slug,
                    title,
                    description,
                    language,
                    logo,
                    categories: categories.into_iter().map(|(s, _)| s).collect(),
                    keywords: keywords.into_iter().map(|(s, _)| s).collect(),
                    retention,
                    digest,
                    filter,
                });
            }
        }
        sections
    }

    fn sources(
        &mut self,
        root: &Tbl<'_>,
        sections: &[Section],
        timezone: Option<Tz>,
        websub: bool,
        proxy: Option<Url>,
    ) -> Vec<Source> {
        let slugs: Vec<&str> = sections.iter().map(|s| s.slug.as_str()).collect();
        let mut sources = Vec::new();
        let mut seen = HashSet::new();
        for t in self.array_of_tables(root, "sources") {
            let name = self.required_string(&t, "name");
            let label = match &name {
                Some((s, _)) => format!("source \"{s}\""),
                None => t.what.clone(),
            };
            let t = Tbl { what: label, ..t };
            self.unknown_keys(&t, SOURCE_KEYS);
            if let Some((name, line)) = &name {
                if name.is_empty()
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
                {
                    self.problem(*line, format!("{}: name must match [A-Za-z0-9._-]+", t.what));
                } else if !seen.insert(name.clone()) {
                    self.problem(*line, format!("{}: name is used by another source", t.what));
                }
            }
            let location = self.location(&t);
            let mut source_sections = Vec::new();
            for (slug, line) in self.string_list(&t, "sections").unwrap_or_default() {
                if slugs.contains(&slug.as_str()) {
                    source_sections.push(slug);
                } else {
                    let hint = did_you_mean(&slug, slugs.iter().copied());
                    self.problem(line, format!("{}: unknown section \"{slug}\"{hint}", t.what));
                }
            }
            let timing = self.timing(&t);
            let title = self.string(&t, "title").map(|(s, _)| s);
            let own_timezone = self.parsed_with(&t, "timezone", parse_timezone);
            let own_websub = self.boolean(&t, "websub");
            let enabled = self.boolean(&t, "enabled").unwrap_or(true);
            let filter = self.filter(&t);
            let headers = self.headers(&t);
            let encoding = self.parsed(&t, "encoding", "an encoding name such as \"windows-1252\"", |s| {
                encoding_rs::Encoding::for_label(s.trim().as_bytes())
            });
            let own_proxy = self.proxy(&t);
            let scrape = self.scrape(&t);
            let id_from = self
                .parsed(&t, "id", "\"guid\", \"link\" or \"content\"", |s| match s {
                    "guid" => Some(crate::normalize::IdFrom::Guid),
                    "link" => Some(crate::normalize::IdFrom::Link),
                    "content" => Some(crate::normalize::IdFrom::Content),
                    _ => None,
                })
                .unwrap_or_default();
            let full_text = self.boolean(&t, "full_text").unwrap_or(false);
            if let (Some((name, _)), Some(location)) = (name, location) {
                sources.push(Source {
                    name,
                    location,
                    sections: source_sections,
                    timing,
                    title,
                    timezone: own_timezone.or(timezone),
                    websub: own_websub.unwrap_or(websub),
                    enabled,
                    filter,
                    headers,
                    encoding,
                    proxy: own_proxy.or_else(|| proxy.clone()),
                    scrape,
                    id_from,
                    full_text,
                });
            }
        }
        sources
    }

    fn location(&mut self, t: &Tbl<'_>) -> Option<Location> {
        let url = self.string(t, "url");
        let path = self.string(t, "path");
        match (url, path) {
            (Some(_), Some((_, line))) => {
                self.problem(line, format!("{}: give either url or path, not both", t.what));
                None
            }
            (None, None) => {
                self.problem(t.line, format!("{}: missing url (or path for a local file)", t.what));
                None
            }
            (Some((url, line)), None) => match Url::parse(&url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Some(Location::Url(u)),
                Ok(u) => {
                    self.problem(
                        line,
                        format!("{}: url: scheme {} is not http or https", t.what, u.scheme()),
                    );
                    None
                }
                Err(e) => {
                    let url = mask_userinfo(&url);
                    self.problem(line, format!("{}: url: invalid URL \"{url}\": {e}", t.what));
                    None
                }
            },
            (None, Some((path, line))) => {
                let full = self.base_dir.join(&path);
                if full.is_file() {
                    Some(Location::File(full))
                } else {
                    self.problem(line, format!("{}: path: no such file {}", t.what, full.display()));
                    None
                }
            }
        }
    }

    /// `schedule` (cron) or `every` (a duration), not both.
    fn timing(&mut self, t: &Tbl<'_>) -> Option<Timing> {
        let cron = self.parsed_with(t, "schedule", Schedule::parse);
        let every = self.parsed_with(t, "every", |s| {
            let d = parse_duration(s)?;
            if d < Duration::from_secs(10) {
                return Err("must be at least 10s".into());
            }
            Ok(d)
        });
        match (cron, every) {
            (Some(_), Some(_)) => {
                let line = self.value(t, "every").map_or(t.line, |(_, l)| l);
                let prefix = if t.what.starts_with('[') {
                    t.what.clone()
                } else {
                    format!("{}:", t.what)
                };
                self.problem(line, format!("{prefix} give either schedule or every, not both"));
                None
            }
            (Some(cron), None) => Some(Timing::Cron(cron)),
            (None, Some(every)) => Some(Timing::Every(every)),
            (None, None) => None,
        }
    }

    fn boolean(&mut self, t: &Tbl<'_>, key: &str) -> Option<bool> {
        let (v, line) = self.value(t, key)?;
        let b = v.and_then(Value::as_bool);
        if b.is_none() {
            self.type_problem(t, key, line, "true or false");
        }
        b
    }

    fn unknown_keys(&mut self, t: &Tbl<'_>, known: &[&str]) {
        for (key, _) in t.table.iter() {
            if known.contains(&key) {
                continue;
            }
            let line = self.line(t.table.key(key).and_then(|k| k.span()));
            let hint = did_you_mean(key, known.iter().copied());
            let prefix = if t.what.is_empty() {
                String::new()
            } else {
                format!("{}: ", t.what)
            };
            self.problem(line, format!("{prefix}unknown key \"{key}\"{hint}"));
        }
    }

    fn table<'t>(&mut self, parent: &Tbl<'t>, key: &str) -> Option<Tbl<'t>> {
        let item = parent.table.get(key)?;
        match item.as_table_like() {
            Some(table) => Some(Tbl {
                table,
                what: format!("[{key}]"),
                line: self.line(item.span().or_else(|| parent.table.key(key).and_then(|k| k.span()))),
            }),
            None => {
                let line = self.line(item.span());
                self.problem(line, format!("{key}: expected a table [{key}]"));
                None
            }
        }
    }

    fn array_of_tables<'t>(&mut self, parent: &Tbl<'t>, key: &str) -> Vec<Tbl<'t>> {
        let Some(item) = parent.table.get(key) else {
            return Vec::new();
        };
        let singular = key.trim_end_matches('s');
        match item {
            Item::ArrayOfTables(array) => array
                .iter()
                .enumerate()
                .map(|(i, table)| Tbl {
                    table,
                    what: format!("{singular} #{}", i + 1),
                    line: self.line(table.span()),
                })
                .collect(),
            Item::Value(Value::Array(array)) => array
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match v.as_inline_table() {
                    Some(table) => Some(Tbl {
                        table,
                        what: format!("{singular} #{}", i + 1),
                        line: self.line(v.span()),
                    }),
                    None => {
                        let line = self.line(v.span());
                        self.problem(line, format!("{key}: expected tables ([[{key}]])"));
                        None
                    }
                })
                .collect(),
            other => {
                let line = self.line(other.span());
                self.problem(line, format!("{key}: expected [[{key}]] tables"));
                Vec::new()
            }
        }
    }

    /// The value under `key` (None inside when it is a table) and its line.
    fn value<'t>(&self, t: &Tbl<'t>, key: &str) -> Option<(Option<&'t Value>, usize)> {
        let item = t.table.get(key)?;
        let line = self.line(item.span().or_else(|| t.table.key(key).and_then(|k| k.span())));
        Some((item.as_value(), line))
    }

    fn type_problem(&mut self, t: &Tbl<'_>, key: &str, line: usize, expected: &str) {
        let prefix = if t.what.starts_with('[') {
            format!("{} {key}", t.what)
        } else {
            format!("{}: {key}", t.what)
        };
        self.problem(line, format!("{prefix}: expected {expected}"));
    }

    fn string(&mut self, t: &Tbl<'_>, key: &str) -> Option<(String, usize)> {
        let (v, line) = self.value(t, key)?;
        match v.and_then(Value::as_str) {
            Some(s) => Some((s.to_string(), line)),
            None => {
                self.type_problem(t, key, line, "a string");
                None
            }
        }
    }

    fn required_string(&mut self, t: &Tbl<'_>, key: &str) -> Option<(String, usize)> {
        if t.table.get(key).is_none() {
            self.problem(t.line, format!("{}: missing {key}", t.what));
            return None;
        }
        self.string(t, key)
    }

    fn string_list(&mut self, t: &Tbl<'_>, key: &str) -> Option<Vec<(String, usize)>> {
        let (v, line) = self.value(t, key)?;
        let list = v.and_then(Value::as_array).and_then(|a| {
            a.iter()
                .map(|v| v.as_str().map(|s| (s.to_string(), self.line(v.span()).max(line))))
                .collect::<Option<Vec<_>>>()
        });
        if list.is_none() {
            self.type_problem(t, key, line, "a list of strings");
        }
        list
    }

    fn integer(&mut self, t: &Tbl<'_>, key: &str, min: i64, max: i64) -> Option<i64> {
        let (v, line) = self.value(t, key)?;
        match v.and_then(Value::as_integer) {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                let expected = if max == i64::MAX {
                    format!("an integer of at least {min}")
                } else {
                    format!("an integer from {min} to {max}")
                };
                self.type_problem(t, key, line, &expected);
                None
            }
        }
    }

    fn parsed<T>(&mut self, t: &Tbl<'_>, key: &str, expected: &str, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
        let (s, line) = self.string(t, key)?;
        let parsed = parse(&s);
        if parsed.is_none() {
            self.type_problem(t, key, line, &format!("{expected}, not \"{s}\""));
        }
        parsed
    }

    fn parsed_with<T>(&mut self, t: &Tbl<'_>, key: &str, parse: impl Fn(&str) -> Result<T, String>) -> Option<T> {
        let (s, line) = self.string(t, key)?;
        match parse(&s) {
            Ok(v) => Some(v),
            Err(e) => {
                let prefix = if t.what.starts_with('[') {
                    format!("{} {key}", t.what)
                } else {
                    format!("{}: {key}", t.what)
                };
                self.problem(line, format!("{prefix}: \"{s}\": {e}"));
                None
            }
        }
    }
}

/// An unparsable URL as text, with what looks like a password masked (the
/// message may be shown on the status page).
fn mask_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}://{}{}", &url[..scheme_end], crate::redact::MASK, &rest[at..]),
        None => url.to_string(),
    }
}

/// `" (did you mean \"x\"?)"` when a known word is close to `word`.
fn did_you_mean<'k>(word: &str, known: impl Iterator<Item = &'k str>) -> String {
    known
        .map(|k| (edit_distance(word, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4) && *d < word.len().max(1))
        .min()
        .map(|(_, k)| format!(" (did you mean \"{k}\"?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// `"20s"`, `"500ms"`, `"2m"`, `"1h"`, `"1d"`; more than zero.
/// An IANA time zone name such as `Europe/Paris`.
/// A day of the week, in English or French, any case.
fn parse_weekday(s: &str) -> Option<chrono::Weekday> {
    use chrono::Weekday::*;
    let days = [
        (Mon, "monday", "lundi"),
        (Tue, "tuesday", "mardi"),
        (Wed, "wednesday", "mercredi"),
        (Thu, "thursday", "jeudi"),
        (Fri, "friday", "vendredi"),
        (Sat, "saturday", "samedi"),
        (Sun, "sunday", "dimanche"),
    ];
    let s = s.trim().to_lowercase();
    days.iter().find(|(_, en, fr)| s == *en || s == *fr).map(|(d, ..)| *d)
}

pub fn parse_timezone(s: &str) -> Result<Tz, String> {
    s.parse().map_err(|_| {
        let hint = did_you_mean(s, chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()));
        format!("not a time zone name such as \"Europe/Paris\"{hint}")
    })
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration_or_zero(s)?;
    if d.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(d)
}

/// A duration that may be `"0s"`.
fn parse_duration_or_zero(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| "expected a duration such as \"20s\", \"500ms\", \"15m\", \"1h\"".to_string())?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "d" => Duration::from_secs(n * 86400),
        other => return Err(format!("unknown unit \"{other}\" (use ms, s, m, h or d)")),
    };
    Ok(d)
}

/// `"10MiB"`, `"512KiB"`, `"1GB"`, `"2048"` (bytes).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| "expected a size such as \"10MiB\" or \"512KiB\"".to_string())?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!("unknown unit \"{other}\" (use B, KiB, MiB, GiB, KB, MB or GB)"));
        }
    };
    let size = n.checked_mul(mult).ok_or("too large")?;
    if size < 1024 {
        return Err("must be at least 1KiB".into());
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match Config::parse(text, Path::new("feeds.toml")) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems().iter().map(Problem::to_string).collect(),
        }
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let text = r#"[server]
listen = "nowhere"

[poll]
timout = "20s"
schedule = "0 61 * * * *"

[[sections]]
slug = "sete"
title = "Sète"

[[sources]]
name = "mairie"
url = "https://example.org/feed.xml"
sections = ["setee"]
"#;
        let p = problems(text);
        assert_eq!(
            p,
            vec![
                r#"feeds.toml:2: [server] listen: expected an address such as "127.0.0.1:8080", not "nowhere""#
                    .to_string(),
                r#"feeds.toml:5: [poll]: unknown key "timout" (did you mean "timeout"?)"#.to_string(),
                p[2].clone(),
                r#"feeds.toml:15: source "mairie": unknown section "setee" (did you mean "sete"?)"#.to_string(),
            ]
        );
        assert!(
            p[2].starts_with(r#"feeds.toml:6: [poll] schedule: "0 61 * * * *": "#),
            "{}",
            p[2]
        );
    }

    #[test]
    fn unknown_keys_name_their_source_and_section() {
        let p = problems(
            "[[sections]]\nslug = \"sete\"\ntitle = \"Sète\"\ncategorie = [\"Sète\"]\n\n[[sources]]\nname = \"mairie\"\nurl = \"https://mairie.example/rss\"\nsection = [\"sete\"]\n",
        );
        assert_eq!(
            p,
            [
                "feeds.toml:4: section \"sete\": unknown key \"categorie\" (did you mean \"categories\"?)",
                "feeds.toml:9: source \"mairie\": unknown key \"section\" (did you mean \"sections\"?)",
            ]
        );
    }

    #[test]
    fn a_store_path_that_is_a_file_is_refused() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let p = problems(&format!("[store]\npath = \"{}\"\n", file.path().display()));
        assert_eq!(
            p,
            [format!(
                "feeds.toml:2: [store] path: {} is a file; the store is a folder",
                file.path().display()
            )]
        );
    }

    #[test]
    fn the_postgres_backend_is_checked_with_its_lines() {
        assert_eq!(
            problems("[store]\nbackend = \"mysql\"\n"),
            ["feeds.toml:2: [store] backend: \"mysql\" is not a backend; \"sled\" or \"postgres\""]
        );
        assert_eq!(
            problems("[store]\nbackend = \"postgres\"\n"),
            ["feeds.toml:2: [store] backend = \"postgres\" needs url = \"postgres://…\" (or \"$THAU_DATABASE_URL\")"]
        );
        assert_eq!(
            problems("[store]\nbackend = \"postgres\"\nurl = \"$THAU_TEST_UNSET_VARIABLE\"\n"),
            ["feeds.toml:3: [store] url: the environment variable THAU_TEST_UNSET_VARIABLE is not set"]
        );
        assert_eq!(
            problems("[store]\nbackend = \"postgres\"\nurl = \"mysql://x\"\n"),
            ["feeds.toml:3: [store] url: not a PostgreSQL connection string (postgres://user@host/db)"]
        );
        assert_eq!(
            problems("[store]\nlease = \"1m\"\n"),
            ["feeds.toml:2: [store] lease: only for backend = \"postgres\""]
        );
        let config = Config::parse(
            "[store]\nbackend = \"postgres\"\nurl = \"postgres://thau:secret@db.example/thau\"\nlease = \"30s\"\n",
            Path::new("feeds.toml"),
        )
        .unwrap();
        let Backend::Postgres {
            url,
            connections,
            lease,
            ca: None,
        } = &config.store.backend
        else {
            panic!("not postgres");
        };
        assert_eq!(
            (url.0.as_str(), *connections, *lease),
            ("postgres://thau:secret@db.example/thau", 8, Duration::from_secs(30))
        );
        assert!(
            !format!("{:?}", config.store).contains("secret"),
            "the password is never shown"
        );
    }

    #[test]
    fn a_store_ca_must_be_a_file_and_is_only_for_postgres() {
        let text = "[store]\nbackend = \"postgres\"\nurl = \"postgres://db.example/thau\"\nca = \"missing.pem\"\n";
        let found = problems(text);
        assert!(
            found.contains(&"feeds.toml:4: [store] ca: missing.pem is not a file (a PEM certificate)".to_string()),
            "{found:?}"
        );
        let found = problems("[store]\nca = \"ca.pem\"\n");
        assert!(
            found.contains(&"feeds.toml:2: [store] ca: only for backend = \"postgres\"".to_string()),
            "{found:?}"
        );
    }

    #[test]
    fn toml_syntax_error_names_the_line() {
        let p = problems("[poll]\nconcurrency = \n");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("feeds.toml:2: invalid TOML"), "{}", p[0]);
    }

    #[test]
    fn five_field_cron_runs_at_second_zero() {
        assert_eq!(Schedule::parse("*/5 * * * *").unwrap().as_str(), "0 */5 * * * *");
        assert!(Schedule::parse("* *").is_err());
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn source_needs_exactly_one_location_and_a_unique_name() {
        let p = problems("[[sources]]\nname = \"a\"\n\n[[sources]]\nname = \"a\"\nurl = \"ftp://x/\"\n");
        assert_eq!(
            p,
            vec![
                "feeds.toml:1: source \"a\": missing url (or path for a local file)",
                "feeds.toml:5: source \"a\": name is used by another source",
                "feeds.toml:6: source \"a\": url: scheme ftp is not http or https",
            ]
        );
    }

    #[test]
    fn defaults_fill_an_empty_file() {
        let c = Config::parse("", Path::new("/etc/thau/feeds.toml")).unwrap();
        assert_eq!(c.store.path, Path::new("/etc/thau/data/thau.sled"));
        assert_eq!(c.poll.max_body, DEFAULT_MAX_BODY);
        assert_eq!(c.server.base_url(c.server.listen), "http://127.0.0.1:8080");
    }
}
