//! thau: polls RSS, Atom and JSON Feed sources, normalizes their entries,
//! keeps them in sled, and republishes one merged feed per section.
//!
//! # Layout
//! Data flows one way; a module uses only the modules above it.
//!
//! - [`model`]: plain data (entries, fetch state).
//! - [`redact`]: pure: URLs without their credentials, as thau shows them.
//! - [`filter`]: pure: include/exclude keywords and `/regex/` of sources and sections.
//! - [`config`]: `feeds.toml` → validated [`config::Config`], every problem at once.
//! - [`outbound`]: the one policy every outgoing request goes through: which
//!   addresses it may reach (by who vouches for its URL), where credentials go.
//! - [`fetch`]: HTTP and file fetching: conditional GET, timeouts, body cap, redirects.
//! - [`dates`]: pure: the feed dates feed-rs cannot read.
//! - [`legacy_ns`]: pure: feeds in namespaces feed-rs skips (Atom 0.3, RSS 0.90…) rewritten.
//! - [`scrape`]: pure: pages without feeds read with CSS selectors into RSS for the normal path.
//! - [`normalize`]: pure: feed bytes → normalized entries (ids, links, dates, HTML).
//! - [`store`]: entries, section-ready index, per-source fetch state, on
//!   one ordered byte map: sled (embedded) or PostgreSQL (shared, with the
//!   pollers' leases and change notifications).
//! - [`route`]: pure: which sections an entry belongs to.
//! - [`desk`]: stories named by hand (hidden, pinned, picked), matched against the store's keys.
//! - [`near`]: pure: near-duplicate stories across sources (MinHash signatures, bands).
//! - [`select`]: which entries each section (and the "all sections" feed) shows,
//!   kept up to date from the store's changes.
//! - [`archive`]: RFC 5005 archive pages, written once a section's stories leave its feed.
//! - [`digest`]: digest feeds: periods, frozen once ended, rendered as entries.
//! - [`publish`]: pure: entries → RSS 2.0 / Atom 1.0 / JSON Feed, the reading
//!   pages (front, section, story), the status page, OPML.
//! - [`pipeline`]: polls sources: fetch → normalize → store.
//! - [`site`]: the published site: sections selected, rendered and compressed
//!   once per change.
//! - [`server`]: HTTP/1.1 over the site (hyper; axum routes all but the feeds),
//!   one accepting thread per core: ETags, 304s, gzip/brotli, HEAD, CORS, the
//!   reading pages, status, admin and metrics endpoints.
//! - [`schedule`]: pure polling policy: backoff, Retry-After, freshness, 410.
//! - [`retention`]: which entries to prune.
//! - [`rewrite`]: a source's rewrite rules, applied to each new entry before it is stored.
//! - [`metrics`]: Prometheus counters.
//! - [`scheduler`]: one cron job per source (or leases on the schedule
//!   PostgreSQL pollers share), single-flight, concurrency limits.
//! - [`websub`]: WebSub hub: subscriptions verified and stored, new entries pushed, signed.
//! - [`edit`]: feeds.toml edits (toml_edit, checked, atomic) and OPML lists for the admin commands.
//! - [`export`]: writing files into a served folder safely (temporaries, no links followed).
//! - [`app`]: composition root for `thau serve` (roles, reload, shutdown) and `thau export`.
//! - [`cli`]: each command of the `thau` binary (`main.rs` only parses and dispatches).
//!
//! A module that grew several jobs is a folder whose `mod.rs` says what it
//! holds and how data moves through it: `config/` (the types; `check/` by
//! table of feeds.toml over `values`), `normalize/` (the document, then
//! `charset`, `entry`, `links`, `text`, `repair`, `scan`…), `store/` (one
//! byte map, sled or `pg/`, under one file per kind of record), `publish/`
//! (one file per format, the pages), `server/` (the listener, then one
//! file per family of routes), `app/` (serve, republish, export, tasks) and
//! `cli/`.

pub mod app;
pub mod archive;
pub mod cli;
pub mod config;
pub mod dates;
pub mod desk;
pub mod digest;
pub mod edit;
pub mod export;
pub mod fetch;
pub mod filter;
pub mod legacy_ns;
pub mod metrics;
pub mod model;
pub mod near;
pub mod normalize;
pub mod outbound;
pub mod pipeline;
pub mod publish;
pub mod redact;
pub mod retention;
pub mod rewrite;
pub mod route;
pub mod schedule;
pub mod scheduler;
pub mod scrape;
pub mod select;
pub mod server;
pub mod site;
pub mod store;
pub mod websub;
