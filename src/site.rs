//! The published site, built from the store when something changed: each
//! section's entries selected by the router, every format rendered once and
//! compressed once (gzip, brotli), with a content hash for the ETag and the
//! instant the bytes last changed for `Last-Modified` (kept in the store so a
//! restart does not move it). Requests are served from these bytes. Wires
//! `store`, `route` and `publish`.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderValue;
use chrono::{DateTime, SubsecRound, Utc};
use sha2::{Digest, Sha256};

use crate::config::{Config, Section};
use crate::desk::Hidden;
use crate::model::Entry;
use crate::normalize::hex;
use crate::publish::{self, FeedKind, Format, SectionFeed, SectionSummary};
use crate::select::Selection;
use crate::store::{PublishMark, Store, StoreError};

/// One published document and its precomputed encodings.
#[derive(Debug, Clone)]
pub struct Doc {
    pub content_type: &'static str,
    pub identity: Bytes,
    pub gzip: Bytes,
    pub brotli: Bytes,
    /// Hex SHA-256 of `identity`: the strong ETag's opaque part.
    pub hash: String,
    /// When these bytes last changed (whole seconds, as HTTP dates are).
    pub last_modified: DateTime<Utc>,
    /// Response headers, formatted once: the strong ETag of each encoding
    /// (identity, gzip, brotli) and `Last-Modified`.
    pub etags: [HeaderValue; 3],
    pub last_modified_header: HeaderValue,
    /// `Link: <hub>; rel="hub", <self>; rel="self"` (WebSub discovery), on
    /// the feeds that have a hub.
    pub link: Option<HeaderValue>,
}

impl Doc {
    fn new(content_type: &'static str, body: Vec<u8>, hash: String, last_modified: DateTime<Utc>) -> Doc {
        Doc {
            // gzip 4: the size of 6 or 9 on news text (17.1% against
            // 17.0%) in 70% of 6's time (BENCHMARKS.md).
            gzip: Bytes::from(gzip(&body, flate2::Compression::new(4))),
            brotli: Bytes::from(brotli(&body)),
            ..Doc::plain(content_type, body, hash, last_modified)
        }
    }

    /// Rendered for a request: gzipped fast, not brotli'd (it must stay
    /// cheap).
    fn on_request(content_type: &'static str, body: Vec<u8>, hash: String, last_modified: DateTime<Utc>) -> Doc {
        Doc {
            gzip: Bytes::from(gzip(&body, flate2::Compression::fast())),
            ..Doc::plain(content_type, body, hash, last_modified)
        }
    }

    /// Without its compressed forms (each is then served as identity).
    fn plain(content_type: &'static str, body: Vec<u8>, hash: String, last_modified: DateTime<Utc>) -> Doc {
        Doc {
            content_type,
            etags: [etag(&hash, ""), etag(&hash, "-gz"), etag(&hash, "-br")],
            last_modified_header: HeaderValue::from_str(&http_date(last_modified)).expect("a date is a valid header"),
            gzip: Bytes::new(),
            brotli: Bytes::new(),
            identity: Bytes::from(body),
            hash,
            last_modified,
            link: None,
        }
    }
}

/// A strong ETag from a content hash: its first 128 bits (as unlikely to
/// collide as the whole hash, for caches), then the encoding's `suffix`.
pub fn etag(hex_hash: &str, suffix: &str) -> HeaderValue {
    let opaque = hex_hash.get(..32).unwrap_or(hex_hash);
    HeaderValue::from_str(&format!("\"{opaque}{suffix}\"")).expect("hex is a valid header")
}

pub fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[derive(Debug, Clone)]
pub struct SiteSection {
    pub section: Section,
    /// Newest first, at most `max_page_size`: what `?limit` and `?since` pick from.
    pub entries: Vec<Arc<Entry>>,
    /// Entries routed to the section in all.
    pub total: usize,
    /// Entries its `include`/`exclude` keeps out.
    pub filtered: usize,
    /// The default page (`page_size` entries) in each format.
    pub feeds: BTreeMap<Format, Doc>,
    /// The digest feed in each format, for a section with `digest`.
    pub digest: BTreeMap<Format, Doc>,
    /// Pages in the section's archive (RFC 5005), numbered from 1.
    pub archives: u32,
    /// When what the section holds (its `entries`) last changed: the
    /// `Last-Modified` of its `?limit`/`?since` variants.
    pub changed: DateTime<Utc>,
}

/// A `?limit`/`?since` variant of a section feed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VariantKey {
    /// Empty for the "all sections" feed.
    pub slug: String,
    pub format: Format,
    pub limit: usize,
    pub since: Option<DateTime<Utc>>,
}

/// Documents rendered on request since the site was built (`?limit`/
/// `?since` variants, archive pages); dropped with it.
#[derive(Debug)]
pub struct Rendered<K>(Mutex<HashMap<K, Arc<Doc>>>);

pub type Variants = Rendered<VariantKey>;

impl<K> Default for Rendered<K> {
    fn default() -> Self {
        Rendered(Mutex::new(HashMap::new()))
    }
}

/// Documents kept at once (the cache is emptied when full: such requests
/// are rare, and each costs at most one render).
const MAX_VARIANTS: usize = 64;

impl<K: std::hash::Hash + Eq> Rendered<K> {
    pub fn get(&self, key: &K) -> Option<Arc<Doc>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned()
    }

    /// Keeps `doc`; returns it shared.
    pub fn insert(&self, key: K, doc: Doc) -> Arc<Doc> {
        let doc = Arc::new(doc);
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_VARIANTS {
            map.clear();
        }
        map.insert(key, doc.clone());
        doc
    }
}

#[derive(Debug)]
pub struct Site {
    pub base_url: String,
    /// `[server]` settings requests need, so a request reads one snapshot.
    pub page_size: usize,
    pub max_page_size: usize,
    pub cache_control: HeaderValue,
    /// In configuration order.
    pub sections: Vec<SiteSection>,
    /// The "all sections" feed: every section's entries, each once (None
    /// in the placeholder).
    pub all: Option<SiteSection>,
    /// RSS and Atom feeds of every section, one folder per format.
    pub opml: Doc,
    /// Entries stored per source (configured or not).
    pub per_source: BTreeMap<String, usize>,
    /// Entries stored.
    pub total_entries: usize,
    /// `?limit`/`?since` variants rendered for requests.
    pub variants: Variants,
    /// False for the placeholder served while the first rendering runs.
    pub ready: bool,
    /// The WebSub hub the feeds name: `[websub] hub`, else thau's own.
    pub hub: Option<String>,
    /// Stories by their page's id, made on the first story request.
    stories: std::sync::OnceLock<HashMap<String, Arc<Entry>>>,
    /// The pictures the pages show, by their `/img/` id, with a story that
    /// shows each: made on the first picture request.
    pictures: std::sync::OnceLock<HashMap<String, (url::Url, Arc<Entry>)>>,
    /// Archive pages rendered since the site was built.
    archive_pages: Rendered<(String, u32, Format)>,
    /// Stories taken down by hand: left out of archive pages too.
    pub hidden: Arc<Hidden>,
    /// The story pinned to lead the front page.
    pub front_pin: Option<Arc<Entry>>,
}

impl Site {
    pub fn section(&self, slug: &str) -> Option<&SiteSection> {
        self.sections.iter().find(|s| s.section.slug == slug)
    }

    /// Page `n` of a section's archive in `format`, rendered from the store
    /// on first request and kept with the site. None when there is no such
    /// page.
    pub fn archive_page(
        &self,
        store: &Store,
        slug: &str,
        n: u32,
        format: Format,
    ) -> Result<Option<Arc<Doc>>, StoreError> {
        let key = (slug.to_string(), n, format);
        if let Some(doc) = self.archive_pages.get(&key) {
            return Ok(Some(doc));
        }
        Ok(self
            .archive_docs(store, slug, n, &[format])?
            .pop()
            .map(|(_, doc)| self.archive_pages.insert(key, doc)))
    }

    /// Page `n` of a section's archive in each of `formats`, its stories
    /// read once (as an export writes it), not kept with the site. Empty
    /// when there is no such page.
    pub fn archive_docs(
        &self,
        store: &Store,
        slug: &str,
        n: u32,
        formats: &[Format],
    ) -> Result<Vec<(Format, Doc)>, StoreError> {
        let Some(section) = self.section(slug).filter(|s| (1..=s.archives).contains(&n)) else {
            return Ok(Vec::new());
        };
        let Some(page) = store.archive_page::<crate::model::ArchivePage>(slug, n)? else {
            return Ok(Vec::new());
        };
        let mut entries = Vec::with_capacity(page.keys.len());
        let mut written = page.written.trunc_subsecs(0);
        for key in &page.keys {
            // A hidden story leaves the page shorter (its number stays),
            // as of when it was hidden; so does a pruned one.
            if self.hidden.covers(key) {
                written = written.max(self.hidden.since.unwrap_or(written).trunc_subsecs(0));
                continue;
            }
            if let Some(e) = store.entry(key)? {
                if self.hidden.covers_entry(&e) {
                    continue;
                }
                entries.push(Arc::new(e));
            }
        }
        entries.sort_by(|a, b| publish::newest_first(a, b));
        let feed = SectionFeed {
            section: &section.section,
            base_url: &self.base_url,
            entries: &entries,
            kind: FeedKind::Archive(n),
            archives: section.archives,
            hub: self.hub.as_deref(),
        };
        Ok(formats
            .iter()
            .map(|&format| {
                let body = format.render(&feed);
                let hash = hex_sha256(&body);
                (format, Doc::on_request(format.content_type(), body, hash, written))
            })
            .collect())
    }

    /// Whether archive page `n` of section `slug` lists a hidden story
    /// (a copy written before it was hidden must be written again).
    pub fn archive_hides(&self, store: &Store, slug: &str, n: u32) -> Result<bool, StoreError> {
        if self.hidden.is_empty() {
            return Ok(false);
        }
        let page = store.archive_page::<crate::model::ArchivePage>(slug, n)?;
        Ok(page.is_some_and(|p| p.keys.iter().any(|k| self.hidden.covers(k))))
    }

    /// The front page's lead story when one is pinned there and shown in a
    /// section: it, and the first section that shows it.
    pub fn front_lead(&self) -> Option<(Arc<Entry>, &Section)> {
        let pinned = self.front_pin.as_ref()?;
        self.sections
            .iter()
            .filter(|s| !s.section.private)
            .find(|s| s.entries.iter().any(|e| e.key == pinned.key))
            .map(|s| (pinned.clone(), &s.section))
    }

    /// A story shown on the site (on any section's kept page), by its
    /// page's id, with the sections it is shown in.
    pub fn story(&self, id: &str) -> Option<(Arc<Entry>, Vec<&Section>)> {
        let stories = self.stories.get_or_init(|| {
            self.sections
                .iter()
                .chain(&self.all)
                .flat_map(|s| &s.entries)
                .map(|e| (publish::story_id(e), e.clone()))
                .collect()
        });
        let entry = stories.get(id)?.clone();
        let sections = self
            .sections
            .iter()
            .filter(|s| s.entries.iter().any(|e| e.key == entry.key))
            .map(|s| &s.section)
            .collect();
        Some((entry, sections))
    }

    /// A picture the pages show (`[site] image_proxy`), by its id: its
    /// address and a story that shows it.
    pub fn picture(&self, id: &str) -> Option<(url::Url, Arc<Entry>)> {
        let pictures = self.pictures.get_or_init(|| {
            let mut pictures = HashMap::new();
            for e in self.sections.iter().chain(&self.all).flat_map(|s| &s.entries) {
                for src in publish::pictures(e) {
                    if let Ok(url) = url::Url::parse(&src) {
                        pictures
                            .entry(publish::picture_id(&src))
                            .or_insert_with(|| (url, e.clone()));
                    }
                }
            }
            pictures
        });
        pictures.get(id).cloned()
    }

    pub fn summaries(&self) -> Vec<SectionSummary> {
        summaries(&self.sections)
    }

    /// Renders the site from a selection. Documents whose bytes did not
    /// change since `previous` are reused as they are (no recompression,
    /// same `Last-Modified`); with `dirty`, sections not marked are not
    /// even rendered again.
    pub fn build(
        store: &Store,
        config: &Config,
        selection: &Selection,
        base_url: &str,
        previous: Option<&Site>,
        dirty: Option<&[bool]>,
        now: DateTime<Utc>,
    ) -> Result<Site, StoreError> {
        Site::build_progressively(store, config, selection, base_url, previous, dirty, now, &|_| {})
    }

    /// [`Site::build`], handing `early` a site to serve each time a
    /// changed section is rendered while others remain (the sections not
    /// rendered yet as they were in `previous`): the sections that changed
    /// are rendered cheapest first, so a section of a few short stories is
    /// published without waiting for one of long articles.
    #[allow(clippy::too_many_arguments)]
    pub fn build_progressively(
        store: &Store,
        config: &Config,
        selection: &Selection,
        base_url: &str,
        previous: Option<&Site>,
        dirty: Option<&[bool]>,
        now: DateTime<Utc>,
        early: &dyn Fn(Site),
    ) -> Result<Site, StoreError> {
        let mut marks = Marks {
            store,
            previous,
            now,
            hidden: &selection.hidden,
        };
        let hidden = Arc::new(selection.hidden.clone());
        let count = config.sections.len();
        let clean = |i: usize| dirty.is_some_and(|d| !d[i]);
        let page_size = config.server.page_size;
        // Bytes of text on the section's page: what rendering it costs.
        let cost = |i: usize| -> usize {
            selection.picks[i]
                .entries()
                .iter()
                .take(page_size)
                .map(|e| {
                    e.title.len()
                        + e.summary.as_ref().map_or(0, String::len)
                        + e.content.as_ref().map_or(0, String::len)
                })
                .sum()
        };
        let mut order: Vec<usize> = (0..count).collect();
        order.sort_by_cached_key(|&i| (!clean(i), if clean(i) { 0 } else { cost(i) }, i));
        let mut rendered: Vec<Option<SiteSection>> = vec![None; count];
        let changed = order.iter().filter(|&&i| !clean(i)).count();
        let mut done = 0;
        for i in order {
            let section = &config.sections[i];
            let old = previous.and_then(|p| p.section(&section.slug));
            let pick = &selection.picks[i];
            let pinned = selection.pinned(store, Some(i), now)?;
            rendered[i] = Some(marks.section(
                config,
                section,
                pick,
                &pinned,
                base_url,
                false,
                old.filter(|_| clean(i)),
            )?);
            if clean(i) {
                continue;
            }
            done += 1;
            if let Some(previous) = previous.filter(|p| p.ready && done < changed) {
                let sections = rendered
                    .iter()
                    .zip(&config.sections)
                    .filter_map(|(r, section)| r.clone().or_else(|| previous.section(&section.slug).cloned()))
                    .collect();
                early(Site {
                    base_url: base_url.to_string(),
                    page_size: config.server.page_size,
                    max_page_size: config.server.max_page_size,
                    cache_control: previous.cache_control.clone(),
                    sections,
                    all: previous.all.clone(),
                    opml: previous.opml.clone(),
                    per_source: previous.per_source.clone(),
                    total_entries: previous.total_entries,
                    variants: Variants::default(),
                    ready: true,
                    hub: previous.hub.clone(),
                    stories: Default::default(),
                    pictures: Default::default(),
                    archive_pages: Default::default(),
                    hidden: hidden.clone(),
                    front_pin: previous.front_pin.clone(),
                });
            }
        }
        let sections: Vec<SiteSection> = rendered.into_iter().flatten().collect();
        let all_section = all_sections(config);
        let clean = dirty.is_some_and(|d| !d[config.sections.len()]);
        let old = previous.and_then(|p| p.all.as_ref());
        let all = marks.section(
            config,
            &all_section,
            &selection.all,
            &[],
            base_url,
            true,
            old.filter(|_| clean),
        )?;
        // (Private sections are not listed: their feeds need a key.)
        let public: Vec<SectionSummary> = summaries(&sections).into_iter().filter(|s| !s.private).collect();
        let opml = publish::opml(base_url, &public, &publish::OPML_FORMATS);
        let opml = marks.doc("sections.opml", "text/x-opml; charset=utf-8", opml)?;
        Ok(Site {
            base_url: base_url.to_string(),
            page_size: config.server.page_size,
            max_page_size: config.server.max_page_size,
            cache_control: HeaderValue::from_str(&format!("public, max-age={}", config.server.cache_max_age.as_secs()))
                .expect("digits are a valid header"),
            sections,
            all: Some(all),
            opml,
            per_source: selection.per_source.clone(),
            total_entries: selection.total,
            variants: Variants::default(),
            ready: true,
            hub: Some(hub_url(config, base_url)),
            stories: Default::default(),
            pictures: Default::default(),
            archive_pages: Default::default(),
            hidden,
            front_pin: selection.pinned(store, None, now)?.into_iter().next(),
        })
    }

    /// What is served while the site is first rendered: no section yet.
    pub fn placeholder(config: &Config, base_url: &str) -> Site {
        let empty = |content_type| Doc::plain(content_type, Vec::new(), String::new(), DateTime::UNIX_EPOCH);
        Site {
            base_url: base_url.to_string(),
            page_size: config.server.page_size,
            max_page_size: config.server.max_page_size,
            cache_control: HeaderValue::from_static("no-store"),
            sections: Vec::new(),
            all: None,
            opml: empty("text/x-opml; charset=utf-8"),
            per_source: BTreeMap::new(),
            total_entries: 0,
            variants: Variants::default(),
            ready: false,
            hub: None,
            stories: Default::default(),
            pictures: Default::default(),
            archive_pages: Default::default(),
            hidden: Default::default(),
            front_pin: None,
        }
    }

    /// Renders a variant of a section feed: its entries updated after
    /// `since`, at most `limit` (within the `max_page_size` kept), dated by
    /// the section's last change. Gzipped fast, not brotli'd: variants are
    /// rendered on request and must stay cheap. None for an unknown section.
    pub fn render_variant(&self, key: &VariantKey) -> Option<Doc> {
        let all = key.slug.is_empty();
        let section = if all {
            self.all.as_ref()?
        } else {
            self.section(&key.slug)?
        };
        let entries: Vec<Arc<Entry>> = section
            .entries
            .iter()
            .filter(|e| key.since.is_none_or(|since| e.updated > since))
            .take(key.limit)
            .cloned()
            .collect();
        let feed = SectionFeed {
            section: &section.section,
            base_url: &self.base_url,
            entries: &entries,
            kind: if all { FeedKind::All } else { FeedKind::Section },
            archives: section.archives,
            hub: self.hub.as_deref(),
        };
        let body = key.format.render(&feed);
        let hash = hex_sha256_of(&feed, key);
        Some(Doc::on_request(key.format.content_type(), body, hash, section.changed))
    }
}

/// A variant's ETag hash: its bytes differ whenever its entries or their
/// text do, and so does this (cheaper than hashing the rendered bytes again).
fn hex_sha256_of(feed: &SectionFeed<'_>, key: &VariantKey) -> String {
    let mut h = Sha256::new();
    h.update(format!("{key:?}"));
    h.update(content_hash(feed.entries));
    hex(&h.finalize())
}

/// A hash of what a list of entries shows: each one's key, dates, sources
/// and categories, which every change to an entry moves.
fn content_hash(entries: &[Arc<Entry>]) -> String {
    let mut h = Sha256::new();
    for e in entries {
        h.update(e.key.as_bytes());
        h.update([0]);
        h.update(e.updated.timestamp_micros().to_le_bytes());
        h.update(e.published.timestamp_micros().to_le_bytes());
        for s in &e.sources {
            h.update(s.name.as_bytes());
            h.update([1]);
            h.update(s.fingerprint.as_bytes());
        }
        for c in &e.categories {
            h.update(c.as_bytes());
            h.update([2]);
        }
    }
    hex(&h.finalize())
}

fn summaries(sections: &[SiteSection]) -> Vec<SectionSummary> {
    sections
        .iter()
        .map(|s| SectionSummary {
            slug: s.section.slug.clone(),
            title: s.section.title.clone(),
            description: s.section.description.clone(),
            entries: s.total,
            filtered: s.filtered,
            private: s.section.private,
        })
        .collect()
}

struct Marks<'a> {
    store: &'a Store,
    previous: Option<&'a Site>,
    now: DateTime<Utc>,
    /// Left out of digests.
    hidden: &'a Hidden,
}

/// The WebSub hub feeds name: `[websub] hub`, else thau's own `/websub`.
pub fn hub_url(config: &Config, base_url: &str) -> String {
    match &config.websub.hub {
        Some(hub) => hub.to_string(),
        None => format!("{base_url}/websub"),
    }
}

impl Site {
    /// The hub feeds name (thau's own when the site is not rendered yet).
    pub fn hub_url(&self) -> String {
        self.hub.clone().unwrap_or_else(|| format!("{}/websub", self.base_url))
    }
}

/// What the "all sections" feed is published as: the site.
/// `entries` (newest first) with at most `n` stories of each source: a
/// story counts for the source that first carried it.
fn at_most_per_source(entries: Vec<Arc<Entry>>, n: usize) -> Vec<Arc<Entry>> {
    let mut shown: HashMap<String, usize> = HashMap::new();
    entries
        .into_iter()
        .filter(|e| {
            let source = e.sources.first().map(|s| s.name.clone()).unwrap_or_default();
            let count = shown.entry(source).or_default();
            *count += 1;
            *count <= n
        })
        .collect()
}

pub fn all_sections(config: &Config) -> Section {
    Section {
        slug: String::new(),
        title: config.site.title.clone(),
        description: config.site.description.clone(),
        language: None,
        logo: None,
        icon: None,
        copyright: None,
        max_per_source: None,
        categories: Vec::new(),
        keywords: Vec::new(),
        retention: Default::default(),
        digest: None,
        filter: Default::default(),
        picks: false,
        private: false,
    }
}

impl Marks<'_> {
    /// Renders a section (or, with `all`, the "all sections" feed), or
    /// takes `unchanged` as it is.
    #[allow(clippy::too_many_arguments)]
    fn section(
        &mut self,
        config: &Config,
        section: &Section,
        pick: &crate::select::Pick,
        pinned: &[Arc<Entry>],
        base_url: &str,
        all: bool,
        unchanged: Option<&SiteSection>,
    ) -> Result<SiteSection, StoreError> {
        let page_size = config.server.page_size;
        let hub = hub_url(config, base_url);
        if let Some(old) = unchanged.filter(|s| s.section == *section) {
            return Ok(SiteSection {
                total: pick.total,
                filtered: pick.filtered,
                ..old.clone()
            });
        }
        let mut entries = match section.max_per_source {
            Some(n) => at_most_per_source(pick.entries(), n),
            None => pick.entries(),
        };
        // Pinned stories lead, latest pin first.
        if !pinned.is_empty() {
            entries.retain(|e| !pinned.iter().any(|p| p.key == e.key));
            entries.splice(0..0, pinned.iter().cloned());
        }
        let page = &entries[..entries.len().min(page_size)];
        let archives = if all {
            0
        } else {
            self.store
                .last_archive_page::<crate::model::ArchivePage>(&section.slug)?
                .map_or(0, |(n, _)| n)
        };
        let feed = SectionFeed {
            section,
            base_url,
            entries: page,
            kind: if all { FeedKind::All } else { FeedKind::Section },
            archives,
            hub: Some(&hub),
        };
        let mut feeds = BTreeMap::new();
        for format in Format::ALL {
            let path = doc_path(&section.slug, format);
            let mut doc = self.doc(&path, format.content_type(), format.render(&feed))?;
            doc.link =
                HeaderValue::from_str(&format!("<{hub}>; rel=\"hub\", <{}>; rel=\"self\"", feed.url(format))).ok();
            feeds.insert(format, doc);
        }
        let mark = if all {
            "all".to_string()
        } else {
            format!("sections/{}", section.slug)
        };
        let changed = self.changed(&mark, content_hash(&entries))?;
        let mut digest = BTreeMap::new();
        if section.digest.is_some() && !all {
            let entries: Vec<Arc<Entry>> = self
                .store
                .digests::<crate::digest::Digest>(&section.slug, 10 * crate::digest::FEED_DIGESTS)?
                .iter()
                .filter(|d| d.total > 0)
                .take(crate::digest::FEED_DIGESTS)
                .map(|d| {
                    let d = crate::digest::without(d, |story| self.hidden.covers_digest_story(story));
                    Arc::new(crate::digest::entry(section, &d, config.site.language, base_url))
                })
                .collect();
            let titled = Section {
                title: crate::digest::feed_title(section, config.site.language),
                ..section.clone()
            };
            let feed = SectionFeed {
                section: &titled,
                base_url,
                entries: &entries,
                kind: FeedKind::Digest,
                archives: 0,
                hub: Some(&hub),
            };
            for format in Format::ALL {
                let path = format!("sections/{}/{}", section.slug, format.digest_file_name());
                digest.insert(format, self.doc(&path, format.content_type(), format.render(&feed))?);
            }
        }
        Ok(SiteSection {
            section: section.clone(),
            entries,
            total: pick.total,
            filtered: pick.filtered,
            feeds,
            digest,
            archives,
            changed,
        })
    }

    /// When what `path` names last changed, given its content hash now
    /// (kept in the store across restarts).
    fn changed(&mut self, path: &str, hash: String) -> Result<DateTime<Utc>, StoreError> {
        Ok(match self.store.publish_mark(path)? {
            Some(mark) if mark.hash == hash => mark.changed,
            _ => {
                let changed = self.now.trunc_subsecs(0);
                self.store
                    .set_publish_mark(path, &PublishMark { hash, changed })?
                    .changed
            }
        })
    }

    fn doc(&mut self, path: &str, content_type: &'static str, body: Vec<u8>) -> Result<Doc, StoreError> {
        let hash = hex_sha256(&body);
        if let Some(old) = self.previous.and_then(|p| p.doc_at(path)).filter(|d| d.hash == hash) {
            return Ok(old.clone());
        }
        let last_modified = self.changed(path, hash.clone())?;
        Ok(Doc::new(content_type, body, hash, last_modified))
    }
}

impl Site {
    fn doc_at(&self, path: &str) -> Option<&Doc> {
        if path == "sections.opml" {
            return Some(&self.opml);
        }
        if let Some(format) = Format::ALL.into_iter().find(|f| f.all_file_name() == path) {
            return self.all.as_ref()?.feeds.get(&format);
        }
        let rest = path.strip_prefix("sections/")?;
        let (slug, file) = rest.split_once('/')?;
        if let Some(format) = Format::ALL.into_iter().find(|f| f.digest_file_name() == file) {
            return self.section(slug)?.digest.get(&format);
        }
        let format = Format::ALL.into_iter().find(|f| f.file_name() == file)?;
        self.section(slug)?.feeds.get(&format)
    }
}

/// Where a section's feed (the "all sections" one for an empty slug) sits
/// under the site's root.
pub fn doc_path(slug: &str, format: Format) -> String {
    if slug.is_empty() {
        format.all_file_name().to_string()
    } else {
        format!("sections/{slug}/{}", format.file_name())
    }
}

pub fn hex_sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn gzip(body: &[u8], level: flate2::Compression) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
    e.write_all(body).expect("writing to memory does not fail");
    e.finish().expect("writing to memory does not fail")
}

fn brotli(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    // Quality 4: within a few percent of 9's size on news feeds, at a
    // tenth of its time (measured in BENCHMARKS.md); 9 took seconds per
    // megabyte of entries, on every render.
    let params = brotli::enc::BrotliEncoderParams {
        quality: 4,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &body[..], &mut out, &params).expect("writing to memory does not fail");
    out
}
