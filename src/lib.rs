//! thau: polls RSS, Atom and JSON Feed sources, normalizes their entries,
//! keeps them in sled, and republishes one merged feed per section.
//!
//! # Layout
//! Data flows one way; a module uses only the modules above it.
//!
//! - [`model`]: plain data (entries, fetch state).
//! - [`config`]: `feeds.toml` → validated [`config::Config`], every problem at once.
//! - [`fetch`]: HTTP and file fetching: conditional GET, timeouts, body cap, redirects.
//! - [`normalize`]: pure: feed bytes → normalized entries (ids, links, dates, HTML).
//! - [`store`]: sled: entries, section-ready index, per-source fetch state.
//! - [`pipeline`]: polls sources: fetch → normalize → store.

pub mod config;
pub mod fetch;
pub mod model;
pub mod normalize;
pub mod pipeline;
pub mod store;
