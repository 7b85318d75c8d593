//! Pure: one entry as the source gave it ([`RawEntry`]: its key, id, link
//! and fingerprint worked out), and the stored [`Entry`] made of it.

use super::*;

/// One entry as the source gave it, with what identifies it already worked out.
#[derive(Debug, Clone)]
pub struct RawEntry {
    /// Store key (see [`Entry::key`]).
    pub key: String,
    pub id: String,
    pub guid: Option<String>,
    /// Canonical link.
    pub link: Option<Url>,
    /// Hash of everything the source said about this entry.
    pub fingerprint: String,
    /// The fragment of its link as written (`#update-3`): kept when it
    /// tells entries of one document apart.
    pub(super) fragment: Option<String>,
    /// Its link is one many entries share (see [`Entry::generic_link`]).
    pub generic_link: bool,
    /// Its picture and a podcast's duration (see [`Entry::image`]).
    pub(super) image: Option<String>,
    pub(super) duration: Option<String>,
    pub(super) base: Option<Url>,
    pub(super) kind: Kind,
    pub(super) inner: fm::Entry,
}

impl RawEntry {
    pub(super) fn new(
        inner: fm::Entry,
        explicit_base: Option<Url>,
        doc_base: Option<&Url>,
        source: &str,
        kind: Kind,
        id_from: IdFrom,
    ) -> RawEntry {
        let rss = kind == Kind::Rss;
        let link_base = explicit_base.as_ref().or(doc_base);
        // Of several alternates (a PDF and a page), the page, as readers
        // pick it; else the first.
        let alternates: Vec<&fm::Link> = inner
            .links
            .iter()
            // (Not `<comments>`: feed-rs gives it as a link with a target.)
            .filter(|l| {
                matches!(l.rel.as_deref(), None | Some("alternate")) && l.target.is_none() && !is_enclosure(l, kind)
            })
            .collect();
        let is_page = |l: &fm::Link| {
            l.media_type
                .as_deref()
                .is_some_and(|t| matches!(t.trim(), "text/html" | "application/xhtml+xml"))
        };
        let chosen = alternates
            .iter()
            .filter(|l| is_page(l))
            .chain(alternates.iter().filter(|l| !is_page(l)))
            .find_map(|l| Some((canonical_url(&l.href, link_base)?, l.href.as_str())));
        let fragment = chosen
            .as_ref()
            .and_then(|(_, href)| http_url(href, link_base)?.fragment().map(str::to_owned))
            .filter(|f| !f.is_empty());
        let link = chosen
            .map(|(link, _)| link)
            // An item with only `<guid>https://…</guid>`: that is its link.
            .or_else(|| rss.then(|| canonical_url(inner.id.trim(), None)).flatten());
        let base = explicit_base.or_else(|| link.clone()).or_else(|| doc_base.cloned());
        let guid = Some(inner.id.trim()).filter(|g| !g.is_empty()).map(str::to_owned);
        let fingerprint = fingerprint(&inner);
        let (by_guid, by_link) = match id_from {
            IdFrom::Guid => (guid.as_ref(), link.as_ref()),
            IdFrom::Link => (None, link.as_ref()),
            IdFrom::Content => (None, None),
        };
        let (key, id) = match (by_guid, by_link) {
            (Some(g), _) => match canonical_url(g, None) {
                Some(u) => (format!("u:{u}"), g.clone()),
                None => (format!("g:{source}\n{g}"), g.clone()),
            },
            (None, Some(link)) => (format!("u:{link}"), link.to_string()),
            (None, None) => {
                let mut h = Sha256::new();
                if let Some(t) = &inner.title {
                    h.update(t.content.as_bytes());
                }
                h.update([0]);
                for text in [
                    inner.content.as_ref().and_then(|c| c.body.as_deref()),
                    inner.summary.as_ref().map(|s| s.content.as_str()),
                ]
                .into_iter()
                .flatten()
                {
                    h.update(text.as_bytes());
                }
                let hash = hex(&h.finalize()[..16]);
                (format!("h:{source}\n{hash}"), format!("urn:sha256:{hash}"))
            }
        };
        RawEntry {
            key,
            id,
            guid,
            link,
            fingerprint,
            fragment,
            generic_link: false,
            image: None,
            duration: None,
            base,
            kind,
            inner,
        }
    }

    /// Its link with the fragment that tells it apart from the other
    /// entries of its document that share the link (a live blog's
    /// `#update-3`): its link, key and id, when they were the link.
    pub(super) fn keep_fragment(&mut self) {
        let (Some(link), Some(fragment)) = (self.link.as_mut(), self.fragment.as_deref()) else {
            return;
        };
        let before = link.to_string();
        link.set_fragment(Some(fragment));
        if self.key == format!("u:{before}") {
            self.key = format!("u:{link}");
        }
        if self.id == before {
            self.id = link.to_string();
        }
    }

    /// Its link is generic (a home page, a link many entries share): it is
    /// kept to show, but the entry is known by its guid or its text, not by
    /// the link.
    pub(super) fn generic(&mut self, source: &str) {
        self.generic_link = true;
        let Some(link) = &self.link else { return };
        if self.key != format!("u:{link}") {
            return;
        }
        let mut h = Sha256::new();
        for text in [
            self.inner.title.as_ref().map(|t| t.content.as_str()),
            self.inner.summary.as_ref().map(|s| s.content.as_str()),
            self.inner.content.as_ref().and_then(|c| c.body.as_deref()),
        ]
        .into_iter()
        .flatten()
        {
            h.update(text.as_bytes());
            h.update([0]);
        }
        let hash = hex(&h.finalize()[..16]);
        self.key = format!("h:{source}\n{hash}");
        if self.id == link.as_str() {
            self.id = format!("urn:sha256:{hash}");
        }
    }

    /// Re-keys an entry whose guid another item of the same document has:
    /// by its link when it has one, else by a hash of its text.
    pub(super) fn distinguish(&mut self) {
        let (key, id) = match &self.link {
            Some(link) if !self.key.ends_with(link.as_str()) => (format!("u:{link}"), link.to_string()),
            _ => {
                let mut h = Sha256::new();
                h.update(self.key.as_bytes());
                for text in [
                    self.inner.title.as_ref().map(|t| t.content.as_str()),
                    self.inner.summary.as_ref().map(|s| s.content.as_str()),
                    self.inner.content.as_ref().and_then(|c| c.body.as_deref()),
                ]
                .into_iter()
                .flatten()
                {
                    h.update(text.as_bytes());
                    h.update([0]);
                }
                let hash = hex(&h.finalize()[..8]);
                (format!("{}#{hash}", self.key), format!("{}#{hash}", self.id))
            }
        };
        self.key = key;
        self.id = id;
    }

    /// Builds the stored entry: sanitized HTML, plain-text title, UTC dates.
    /// An entry without a usable date is dated `now` (its first sighting).
    /// Its summary's and content's HTML as `edit` rewrites it (None: as
    /// it is), before anything is sanitized.
    pub fn edit_html(&mut self, edit: impl Fn(bool, &str) -> Option<String>) {
        if let Some(summary) = self.inner.summary.as_mut()
            && let Some(new) = edit(false, &summary.content)
        {
            summary.content = new;
        }
        if let Some(body) = self.inner.content.as_mut().and_then(|c| c.body.as_mut())
            && let Some(new) = edit(true, body)
        {
            *body = new;
        }
    }

    pub fn finish(self, feed: &ParsedFeed, now: DateTime<Utc>) -> Entry {
        let e = self.inner;
        let base = self.base.as_ref();
        // RSS never says a description is text: feed-rs calls an RSS 1.0
        // one text/plain, but publishers write entity-encoded HTML there
        // as in RSS 2.0.
        let rss = self.kind == Kind::Rss;
        // A text past `max_text` is cut before any parser sees it, and says so.
        let max = feed.max_text;
        let capped = |text: &str, clean: &dyn Fn(&str) -> String| match cut_html(text, max) {
            None => clean(text),
            Some(head) => clean(head) + CUT_MARK,
        };
        let summary = e
            .summary
            .as_ref()
            .map(|t| {
                if rss && t.content_type.as_str() == "text/plain" && holds_markup(&t.content) {
                    capped(&t.content, &|h| sanitize_html(h, base))
                } else if t.content_type.as_str() == "text/plain" {
                    // An RSS description is HTML whose line breaks are
                    // layout; Atom and JSON Feed text keeps its lines.
                    let as_html: &dyn Fn(&str) -> String = if rss { &escape_html } else { &plain_text_html };
                    capped(t.content.trim(), as_html)
                } else {
                    capped(&t.content, &|h| sanitize_html(h, base))
                }
            })
            .filter(|s| !s.is_empty());
        let content = e
            .content
            .as_ref()
            .and_then(|c| {
                let body = c.body.as_deref()?;
                Some(match c.content_type.as_str() {
                    "text/plain" => capped(body, &plain_text_html),
                    // XML that is not XHTML (an Atom entry, an SVG file):
                    // shown as its source, as feedparser shows it.
                    t if t != "application/xhtml+xml" && (t.ends_with("/xml") || t.ends_with("+xml")) => {
                        capped(body.trim(), &escape_html)
                    }
                    _ => capped(body, &|h| sanitize_html(h, base)),
                })
            })
            .filter(|s| !s.is_empty());
        let mut title = e
            .title
            .as_ref()
            .map(|t| text_of(t, feed.typed_text))
            .unwrap_or_default();
        if title.is_empty() {
            title = headline_from(summary.as_deref().or(content.as_deref()).unwrap_or_default());
        }

        // The source's dates as it gave them, future ones too (an agenda's
        // events): a date implausibly far ahead only sorts as the time it
        // was first seen (`Entry::sort_time`).
        let usable = |d: Option<DateTime<Utc>>| d;
        let source_published = usable(e.published).or(usable(e.updated));
        let published = source_published.unwrap_or(now);
        let updated = usable(e.updated).unwrap_or(published).max(published);

        let mut authors = people(&e.authors);
        if authors.is_empty() {
            authors = feed.authors.clone();
        }
        let categories = distinct_folded(e.categories.iter().map(|c| c.label.as_deref().unwrap_or(&c.term)));
        let mut enclosures: Vec<Enclosure> = Vec::new();
        let media = e.media.iter().flat_map(|m| &m.content).filter_map(|c| {
            Some(Enclosure {
                url: http_url(c.url.as_ref()?.as_str(), base)?.to_string(),
                media_type: c.content_type.as_ref().map(|t| t.to_string()),
                length: c.size,
            })
        });
        let kind = self.kind;
        let linked = e.links.iter().filter(|l| is_enclosure(l, kind)).filter_map(|l| {
            Some(Enclosure {
                url: http_url(&l.href, base)?.to_string(),
                media_type: l.media_type.clone(),
                length: l.length,
            })
        });
        for enc in media.chain(linked) {
            if !enclosures.iter().any(|x| x.url == enc.url) {
                enclosures.push(enc);
            }
        }

        let full_text = content.is_some();
        let mut entry = Entry {
            key: self.key,
            id: self.id,
            link: self.link.map(String::from),
            title,
            summary,
            content,
            published,
            updated,
            first_seen: now,
            dated: source_published.is_some(),
            generic_link: self.generic_link,
            image: self.image,
            duration: self.duration,
            authors,
            categories: categories.clone(),
            enclosures,
            language: e.language.or_else(|| feed.language.clone()),
            sources: vec![SourceRef {
                name: feed.source.clone(),
                guid: self.guid,
                feed_title: feed.title.clone(),
                feed_url: feed.feed_url.clone(),
                feed_updated: feed.updated,
                categories,
                fingerprint: self.fingerprint,
                full_text,
                updated: usable(e.updated).or(source_published),
            }],
        };
        xml_safe_entry(&mut entry);
        entry
    }
}

pub(super) fn fingerprint(e: &fm::Entry) -> String {
    let mut h = Sha256::new();
    let mut field = |s: &str| {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    field(e.title.as_ref().map_or("", |t| &t.content));
    field(e.summary.as_ref().map_or("", |t| &t.content));
    field(e.content.as_ref().and_then(|c| c.body.as_deref()).unwrap_or(""));
    for l in &e.links {
        field(&l.href);
    }
    field(&e.published.map(|d| d.to_rfc3339()).unwrap_or_default());
    field(&e.updated.map(|d| d.to_rfc3339()).unwrap_or_default());
    for c in &e.categories {
        field(&c.term);
    }
    for a in &e.authors {
        field(a.name.as_deref().unwrap_or_default());
    }
    for m in e.media.iter().flat_map(|m| &m.content) {
        field(m.url.as_ref().map_or("", |u| u.as_str()));
    }
    hex(&h.finalize()[..16])
}

pub(super) fn people(persons: &[fm::Person]) -> Vec<Person> {
    persons
        .iter()
        .filter_map(|p| {
            let name = p.name.as_deref().unwrap_or_default().trim();
            // RSS's "email@example.org (Name)": feed-rs keeps the parentheses.
            let name = name
                .strip_prefix('(')
                .and_then(|n| n.strip_suffix(')'))
                .unwrap_or(name)
                .trim();
            let email = p.email.as_deref().map(str::trim).filter(|s| !s.is_empty());
            let name = if name.is_empty() { email? } else { name };
            Some(Person {
                name: collapse_whitespace(name),
                email: email.map(str::to_owned),
                uri: p.uri.as_deref().and_then(author_uri),
            })
        })
        .collect()
}
