//! `feeds.toml` → validated [`Config`]. Here, the types the rest of thau
//! reads; `check` reads the file once with spans kept (toml_edit), checks
//! every key and value, table by table, and reports every problem at once
//! with its line (`feeds.toml:14: source "mairie": sections: unknown
//! section "setee"`); `values` holds the value parsers (durations, sizes,
//! time zones) and the "did you mean" of messages. Depends on `redact`.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use toml_edit::{Item, TableLike, Value};
use url::Url;

mod check;
mod values;

use check::{Checker, Lines};
pub use values::did_you_mean;
pub use values::{parse_duration, parse_size, parse_timezone};

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
    /// Stories taken down by hand (`[[hidden]]`, `thau hide`).
    pub hidden: Vec<HiddenStory>,
    /// Stories leading a section, or the front page (`[[pinned]]`, `thau pin`).
    pub pinned: Vec<PinnedStory>,
    /// Stories put in a section by hand (`[[picked]]`, `thau pick`).
    pub picked: Vec<PickedStory>,
    /// The subscribers' keys of private sections (`[[keys]]`, `thau key add`).
    pub keys: Vec<SectionKey>,
    /// `[dedupe] similarity`: stories of different sources this similar
    /// are one story (near-duplicate detection); off when absent.
    pub near_duplicates: Option<f64>,
    /// Position of each source in `sources`, by name.
    by_name: HashMap<String, usize>,
}

/// A story taken down by hand: it leaves every feed, page, archive page,
/// digest and export at the next rendering, whatever the polls bring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HiddenStory {
    /// What names it: its page's id (`/stories/{id}.html`), its id in the
    /// feeds (guid), or its link.
    pub story: String,
    pub reason: Option<String>,
    /// When it was hidden (`thau hide` says).
    pub at: Option<DateTime<Utc>>,
}

/// A story that leads a section (first in its feeds and on its page), or
/// the front page (`section = "front"`), until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedStory {
    /// As [`HiddenStory::story`].
    pub story: String,
    /// A section's slug, or [`FRONT`].
    pub section: String,
    pub until: Option<DateTime<Utc>>,
    pub at: Option<DateTime<Utc>>,
}

/// One subscriber's key to private sections: only its SHA-256 is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionKey {
    pub name: String,
    pub sections: Vec<String>,
    /// The key's SHA-256, in lowercase hex.
    pub sha256: String,
}

impl Config {
    /// Whether `key` (as a subscriber gives it) opens section `slug`.
    pub fn key_opens(&self, key: &str, slug: &str) -> bool {
        use sha2::Digest;
        let given = crate::normalize::hex(&sha2::Sha256::digest(key.trim().as_bytes()));
        self.keys
            .iter()
            .filter(|k| k.sections.iter().any(|s| s == slug))
            .any(|k| same_secret(k.sha256.as_bytes(), given.as_bytes()))
    }
}

/// What `thau pin --section` calls the front page.
pub const FRONT: &str = "front";

/// A story put in a section by hand, whatever its routing (the only way
/// in to a section with `picks = true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickedStory {
    pub story: String,
    pub section: String,
    pub at: Option<DateTime<Utc>>,
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
    /// Where the pages' dates are told: `[poll] timezone`, else UTC.
    pub timezone: Option<Tz>,
    /// `image_proxy = true`: the pages' pictures are served by thau
    /// (`/img/…`), so that readers' browsers never call the sources' hosts.
    pub image_proxy: bool,
    /// `assets = "folder"`: files served at `/assets/…` (a logo, the
    /// demo's pictures).
    pub assets: Option<std::path::PathBuf>,
}

impl Default for SiteConfig {
    fn default() -> SiteConfig {
        SiteConfig {
            title: DEFAULT_SITE_TITLE.to_string(),
            description: None,
            language: Language::En,
            timezone: None,
            image_proxy: false,
            assets: None,
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

    /// "27 November 2026", "27 novembre 2026".
    pub fn long_date(self, d: chrono::NaiveDate) -> String {
        use chrono::Datelike;
        const EN: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        const FR: [&str; 12] = [
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ];
        let month = match self {
            Language::En => EN,
            Language::Fr => FR,
        }[d.month0() as usize];
        format!("{} {month} {}", d.day(), d.year())
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
    /// (Boxed: a parsed schedule is 330 bytes, and a desk has thousands of
    /// sources.)
    Cron(Box<Schedule>),
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
    /// Its small square picture (`icon`): Atom `icon`, JSON Feed `favicon`,
    /// the pages' icon.
    pub icon: Option<Url>,
    /// Its rights statement (`copyright`): RSS `copyright`, Atom `rights`,
    /// the section page's foot.
    pub copyright: Option<String>,
    /// At most this many of one source's stories in its feeds and pages
    /// (`max_per_source`): no source fills the section on its own.
    pub max_per_source: Option<usize>,
    /// This section's own limits (an entry is kept while any of its sections
    /// wants it, within the global limits).
    pub retention: Retention,
    /// When its digest feed gets an entry, if it has one.
    pub digest: Option<DigestSchedule>,
    /// What it does not show (`include`/`exclude`).
    pub filter: crate::filter::Filter,
    /// Filled only by hand (`picks = true`): only its `[[picked]]` and
    /// `[[pinned]]` stories.
    pub picks: bool,
    /// Its feeds and page need a subscriber's key (`private = true`); it
    /// stays out of the front page, the "all sections" feed, the OPML,
    /// WebSub and the export.
    pub private: bool,
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
    pub scrape: Option<Box<crate::scrape::Rules>>,
    /// What identifies its entries (`id = "guid" | "link" | "content"`).
    pub id_from: crate::normalize::IdFrom,
    /// Fetch the page of each new entry that is only a teaser and publish
    /// its article (readability) as the content.
    pub full_text: bool,
    /// Its rewrite rules (`[[sources.rewrite]]`, `remove`).
    pub rewrites: crate::rewrite::Rewrites,
    /// The article element of its pages (`full_text_selector`), instead of
    /// readability's guess.
    pub full_text_selector: Option<String>,
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

/// Which field of a six-field cron schedule holds a number past its range,
/// said as an admin reads it: `hour must be 0-23, not 25`.
fn out_of_range(six: &str) -> Option<String> {
    const FIELDS: [(&str, u32, u32); 6] = [
        ("second", 0, 59),
        ("minute", 0, 59),
        ("hour", 0, 23),
        ("day of the month", 1, 31),
        ("month", 1, 12),
        ("day of the week", 0, 7),
    ];
    for (field, (name, low, high)) in six.split_whitespace().zip(FIELDS) {
        for part in field.split(',') {
            let (range, step) = part.split_once('/').map_or((part, None), |(r, s)| (r, Some(s)));
            if let Some(step) = step.and_then(|s| s.parse::<u32>().ok())
                && step == 0
            {
                return Some(format!("{name}: a step of 0 never fires, in \"{part}\""));
            }
            for bound in range.split('-').filter_map(|n| n.parse::<u32>().ok()) {
                if !(low..=high).contains(&bound) {
                    return Some(format!("{name} must be {low}-{high}, not {bound}"));
                }
            }
        }
    }
    None
}

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
            .map_err(|e| out_of_range(&six).unwrap_or_else(|| e.to_string()))?;
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

    /// `" (did you mean \"sete\"?)"` when a section's slug is close to `slug`.
    pub fn section_hint(&self, slug: &str) -> String {
        did_you_mean(slug, self.sections.iter().map(|s| s.slug.as_str()))
    }

    pub fn timing_of<'a>(&'a self, source: &'a Source) -> &'a Timing {
        source.timing.as_ref().unwrap_or(&self.poll.timing)
    }
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
    fn a_cron_field_past_its_range_is_named_with_its_range() {
        for (schedule, said) in [
            ("0 */15 25 * * *", "hour must be 0-23, not 25"),
            ("*/15 24 * * *", "hour must be 0-23, not 24"),
            ("0 0 8 32 * *", "day of the month must be 1-31, not 32"),
            ("0 0-61 * * * *", "minute must be 0-59, not 61"),
            ("0 */0 * * * *", "minute: a step of 0 never fires, in \"*/0\""),
        ] {
            let p = problems(&format!("[poll]\nschedule = \"{schedule}\"\n"));
            assert_eq!(
                p,
                vec![format!("feeds.toml:2: [poll] schedule: \"{schedule}\": {said}")],
                "{schedule}"
            );
        }
    }

    #[test]
    fn source_needs_exactly_one_location_and_a_unique_name() {
        let p = problems("[[sources]]\nname = \"a\"\n\n[[sources]]\nname = \"a\"\nurl = \"ftp://x/\"\n");
        assert_eq!(
            p,
            vec![
                "feeds.toml:1: source \"a\": missing url (or path for a local file)",
                "feeds.toml:5: source \"a\": name is used by another source (line 2)",
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
